package router_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// The agent consumes on every broker at once; losing one stops nothing on
// the other, and the lost one is consumed again when it is back.
func TestAgentConsumesEveryBrokerAndSurvivesOneDown(t *testing.T) {
	shared := brokertest.RequireBroker(t)
	connA := dialBroker(t, shared)
	nodeB := brokertest.StartNode(t, brokertest.NodeOptions{})

	node := testkit.UniqueName("sbtest-twobrokers")
	testkit.DeleteQueues(t, shared, node)
	var mu sync.Mutex
	seen := map[string]int{}
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", func(ctx context.Context, req *router.Request) (any, error) {
			mu.Lock()
			seen[req.Meta.Broker]++
			mu.Unlock()
			return add(ctx, req)
		})
	}, func(c *router.Config) {
		c.Endpoints = []broker.Endpoint{{URL: shared}, {URL: nodeB.URL(), Heartbeat: time.Second}}
		c.Backoff = broker.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	})

	callOn := func(c *pyClient, id string) {
		t.Helper()
		if r := response(t, c.call(testkit.PyCall(id, todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
			t.Fatalf("call %s: reply %q", id, r.Message)
		}
	}
	clientA := newPyClient(t, connA, node)
	callOn(clientA, "a1")
	clientB := newPyClient(t, dialBroker(t, nodeB.URL()), node)
	callOn(clientB, "b1")
	mu.Lock()
	if len(seen) != 2 {
		t.Errorf("calls seen from brokers %v, want two brokers", seen)
	}
	mu.Unlock()

	nodeB.Kill(t)
	testkit.Eventually(t, 10*time.Second, "agent notices broker B is gone", func() bool { return a.Consuming() == 1 })
	callOn(clientA, "a2")

	nodeB.Start(t)
	testkit.Eventually(t, 30*time.Second, "agent consumes broker B again", func() bool { return a.Consuming() == 2 })
	callOn(newPyClient(t, dialBroker(t, nodeB.URL()), node), "b2")
	callOn(clientA, "a3")
}

// A broker that is down at start stops nothing on the others.
func TestAgentServesWhileAnotherBrokerIsUnreachable(t *testing.T) {
	conn, node := freshNode(t, "onedown")
	a, err := router.NewAgent(func() router.Config {
		c := testConfig(node)
		c.Endpoints = []broker.Endpoint{{URL: "amqp://guest:guest@127.0.0.1:1/", DialTimeout: 200 * time.Millisecond}, {URL: brokerURL()}}
		return c
	}(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.AddRPCService("math", "add", add)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	testkit.Eventually(t, 10*time.Second, "consuming the reachable broker", func() bool { return a.Consuming() == 1 })
	if r := response(t, newPyClient(t, conn, node).call(testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("reply %q", r.Message)
	}
}

// The node queue of a cluster is one queue: when the broker cancels the
// agent's consumer on one node (the queue was deleted), the agent consumes
// anew on every node of that cluster, not only where the cancel came. A
// consumer on another node that was never told would otherwise stay idle
// on the deleted queue (RabbitMQ 3.10, quorum queues). Two endpoints on
// one broker are one cluster (same cluster_name); the cancel comes on the
// first alone.
func TestConsumerCancelledOnOneNodeOfAClusterResubscribesEveryNode(t *testing.T) {
	shared := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-resubscribe")
	testkit.DeleteQueues(t, shared, node)
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
	}, func(c *router.Config) {
		c.Endpoints = []broker.Endpoint{{URL: shared}, {URL: shared}}
		c.Backoff = broker.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	})
	for i, b := range a.Brokers() {
		if b.Connects != 1 {
			t.Fatalf("broker %d: %d connects before the cancel, want 1", i, b.Connects)
		}
	}
	if err := router.CancelConsumer(a, 0); err != nil {
		t.Fatal(err)
	}
	router.WaitClusterChecks(a)
	testkit.Eventually(t, 10*time.Second, "both paths connected anew and consuming", func() bool {
		b := a.Brokers()
		return b[0].Connects == 2 && b[1].Connects == 2 && b[0].Consuming && b[1].Consuming
	})
	if r := response(t, newPyClient(t, dialBroker(t, shared), node).call(testkit.PyCall("r1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("call after the resubscribe: reply %q", r.Message)
	}
	// Connected once more each, not in a loop.
	for i, b := range a.Brokers() {
		if b.Connects != 2 {
			t.Errorf("broker %d: %d connects, want 2", i, b.Connects)
		}
	}
}

// A consumer cancelled on one broker leaves the paths to other brokers
// alone: their queues were not deleted, and a reconnect would give back
// the work in flight there.
func TestConsumerCancelledOnOneBrokerLeavesAnotherBrokerAlone(t *testing.T) {
	shared := brokertest.RequireBroker(t)
	nodeB := brokertest.StartNode(t, brokertest.NodeOptions{})
	node := testkit.UniqueName("sbtest-resubscribe-other")
	testkit.DeleteQueues(t, shared, node)
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
	}, func(c *router.Config) {
		c.Endpoints = []broker.Endpoint{{URL: shared}, {URL: nodeB.URL()}}
		c.Backoff = broker.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
	})
	if err := router.CancelConsumer(a, 0); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the cancelled path connected anew and consuming", func() bool {
		b := a.Brokers()
		return b[0].Connects == 2 && b[0].Consuming
	})
	router.WaitClusterChecks(a)
	if b := a.Brokers()[1]; b.Connects != 1 || !b.Consuming {
		t.Errorf("the other broker's path: %d connects, consuming %v; want 1 and true", b.Connects, b.Consuming)
	}
}

// A node queue gone without any cancel (RabbitMQ 3.10 did it once in some
// 130 deletes of a quorum queue) is found by the agent's check at the probe
// interval, and every path to that cluster consumes anew.
func TestNodeQueueGoneWithoutACancelIsFoundAndConsumedAgain(t *testing.T) {
	shared := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-queuegone")
	testkit.DeleteQueues(t, shared, node)
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
		router.WatchQueue(a, node+".missing") // as if the node queue were gone
	}, func(c *router.Config) {
		c.Endpoints = []broker.Endpoint{{URL: shared}, {URL: shared}}
		c.Backoff = broker.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}
		c.ProbeInterval = 200 * time.Millisecond
	})
	testkit.Eventually(t, 10*time.Second, "both paths connected anew and consuming", func() bool {
		b := a.Brokers()
		return b[0].Connects >= 2 && b[1].Connects >= 2 && b[0].Consuming && b[1].Consuming
	})
}
