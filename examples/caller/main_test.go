package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example against a real agent (the root package's NewAgent) that
// serves math.add as RPC and as message service.
func TestCallerCallsSendsAndPingsTheAgent(t *testing.T) {
	url := brokertest.RequireBroker(t)
	u, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	node := testkit.UniqueName("sbtest-caller")
	t.Setenv("SERVICEBUS_HOSTS", u.Host)
	t.Setenv("SERVICEBUS_PORT", strconv.Itoa(u.Port))
	t.Setenv("SERVICEBUS_USER", u.Username)
	t.Setenv("SERVICEBUS_PASSWORD", u.Password)
	t.Setenv("SERVICEBUS_VHOST", u.Vhost)
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "caller-test-secret")
	t.Setenv("SERVICEBUS_NODE_NAME", node)

	cfg, err := servicebus.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var messages atomic.Int32
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, xs []float64) (float64, error) {
		return xs[0] + xs[1], nil
	}))
	agent.AddMessageService("math", "add", func(context.Context, *servicebus.Request) error {
		messages.Add(1)
		return nil
	})
	testkit.DeleteQueues(t, url, node) // after the agent closed: cleanups run last first
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })
	testkit.Eventually(t, 10*time.Second, "agent consuming", func() bool { return agent.Consuming() == 1 })

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--node", node}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{node + ".math.add([1, 2]) = 3\n", "sent one message", "1 of 1 brokers answered"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	testkit.Eventually(t, 5*time.Second, "the message at the agent", func() bool { return messages.Load() == 1 })
}
