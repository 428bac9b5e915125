package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/router"
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
	var b [6]byte
	_, _ = rand.Read(b[:])
	node := "sbtest-caller-" + hex.EncodeToString(b[:])
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
	agent.AddRPCService("math", "add", router.RPC(func(_ context.Context, xs []float64) (float64, error) {
		return xs[0] + xs[1], nil
	}))
	agent.AddMessageService("math", "add", func(context.Context, *servicebus.Request) error {
		messages.Add(1)
		return nil
	})
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = agent.Close()
		deleteQueue(t, url, node)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for agent.Consuming() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("agent not consuming")
		}
		time.Sleep(10 * time.Millisecond)
	}

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
	for deadline := time.Now().Add(5 * time.Second); messages.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the agent got %d messages, want 1", messages.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func deleteQueue(t *testing.T, url, queue string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close()
	if ch, err := conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(queue, false, false, false)
	}
}
