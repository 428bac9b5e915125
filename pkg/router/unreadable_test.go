package router_test

import (
	"context"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// A message whose headers amqp091-go cannot parse (nested deeper than 32
// levels) kills the consuming connection at every delivery. In compat
// topology the agent takes it off the queue head after two such losses and
// serves on; the readable messages around it are all run.
func TestUnreadableDeliveryIsClearedAndTheRestServed(t *testing.T) {
	url := brokerURL()
	conn := dialBroker(t, url)
	node := testkit.UniqueName("sbtest-unreadable")
	testkit.DeleteQueues(t, url, node)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := (topology.Topology{}).DeclareNodeQueue(ch, node); err != nil {
		t.Fatal(err)
	}
	deep := amqp.Table{"v": "leaf"}
	for range 40 {
		deep = amqp.Table{"t": deep}
	}
	publish := func(id string, headers amqp.Table) {
		t.Helper()
		err := ch.PublishWithContext(context.Background(), topology.DefaultExchange, node, false, false, amqp.Publishing{
			Body: testkit.PyCall(id, todayToken(), "util", "record", `"x"`), Headers: headers, DeliveryMode: amqp.Persistent,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Queued before the agent starts, so its first consume gets all three.
	publish("before", nil)
	publish("poison", amqp.Table{"x-deep": deep})
	publish("after", nil)

	var mu sync.Mutex
	ran := map[string]int{}
	a := startAgentLenient(t, node, func(a *router.Agent) {
		a.AddMessageService("util", "record", func(_ context.Context, req *router.Request) error {
			mu.Lock()
			ran[req.ID]++
			mu.Unlock()
			return nil
		})
		a.AddRPCService("math", "add", router.RPC(func(_ context.Context, p []int) (int, error) { return p[0] + p[1], nil }))
	})
	testkit.Eventually(t, 20*time.Second, "both readable messages run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ran["before"] >= 1 && ran["after"] >= 1
	})
	if got := a.Stats().Unreadable; got != 1 {
		t.Fatalf("Stats().Unreadable = %d, want 1", got)
	}
	mu.Lock()
	if ran["poison"] != 0 {
		t.Errorf("the unreadable message ran %d times", ran["poison"])
	}
	mu.Unlock()
	testkit.Eventually(t, 10*time.Second, "agent consuming again", func() bool { return a.Consuming() == 1 })
	c := newPyClient(t, conn, node)
	if r := response(t, c.call(testkit.PyCall("after-clear", todayToken(), "math", "add", "[40, 2]"), 10*time.Second)); r.Message != "42" {
		t.Fatalf("call after the clear answered %q, want 42", r.Message)
	}
}

// startAgentLenient is startAgent without waiting for Consuming: a path that
// keeps losing its connection to an unreadable delivery may not be counted
// as consuming at any one moment.
func startAgentLenient(t *testing.T, node string, setup func(*router.Agent)) *router.Agent {
	t.Helper()
	a, err := router.NewAgent(testConfig(node), nil)
	if err != nil {
		t.Fatal(err)
	}
	setup(a)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}
