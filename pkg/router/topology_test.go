package router_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func TestCompatTopologyJoinsWhatPyServicebusDeclared(t *testing.T) {
	conn := dialBroker(t, brokerURL())
	node := testkit.UniqueName("sbtest-pydeclared")
	exchange := node + "-ex"
	testkit.DeleteQueues(t, brokerURL(), node)
	testkit.DeleteExchanges(t, brokerURL(), exchange)
	// What py-servicebus 2.x declares for a node.
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, "direct", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(node, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(node, node, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	_ = ch.Close()

	startAgent(t, node, func(a *router.Agent) { a.AddRPCService("math", "add", add) },
		func(c *router.Config) {
			c.Topology = topology.Topology{Kind: topology.Compat, Exchange: exchange}
		})
	c := newPyClient(t, conn, node)
	c.exchange = exchange
	if r := response(t, c.call(vectorXML(t, "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("reply %q", r.Message)
	}
}

func TestDurableTopologyDeadLettersAPoisonMessage(t *testing.T) {
	conn := dialBroker(t, brokerURL())
	node := testkit.UniqueName("sbtest-durable")
	topo := topology.Topology{Kind: topology.Durable, Exchange: node + "-ex"}
	testkit.DeleteQueues(t, brokerURL(), node, node+".dead")
	testkit.DeleteExchanges(t, brokerURL(), topo.ExchangeName(), topo.DeadLetterExchange())

	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("x", "poison", func(context.Context, *router.Request) error {
			return router.Permanent(errNope)
		})
		a.AddRPCService("math", "add", add)
	}, func(c *router.Config) { c.Topology = topo })
	c := newPyClient(t, conn, node)
	c.exchange = topo.ExchangeName()
	if r := response(t, c.call(vectorXML(t, "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("reply %q", r.Message)
	}
	c.send(testkit.PyCall("1", todayToken(), "x", "poison", "null"))
	c.send([]byte("not xml"))
	// A call with a bad token is answered, then dead-lettered as well.
	if d := c.call(testkit.PyCall("2", "bad", "math", "add", "[1, 2]"), 5*time.Second); response(t, d).Message != "Token not valid!" {
		t.Fatalf("bad token reply %q", d.Body)
	}
	testkit.Eventually(t, 10*time.Second, "three deliveries dead-lettered", func() bool {
		return a.Stats().Rejected == 3 && queueDepth(t, conn, node+".dead") == 3
	})
	if n := queueDepth(t, conn, node); n != 0 {
		t.Errorf("node queue holds %d", n)
	}
}

// A node queue deleted under a running agent (the broker cancels the
// consumer) is declared and consumed again.
func TestDeletedNodeQueueIsDeclaredAndConsumedAgain(t *testing.T) {
	conn, node := freshNode(t, "deleted")
	a := startAgent(t, node, func(a *router.Agent) { a.AddRPCService("math", "add", add) },
		func(c *router.Config) {
			c.Backoff = broker.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}
		})
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(node, false, false, false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "queue declared and consumed again", func() bool {
		q, err := ch.QueueDeclarePassive(node, true, false, false, false, nil)
		if err != nil {
			if ch, err = conn.Channel(); err != nil {
				t.Fatal(err)
			}
			return false
		}
		return q.Consumers == 1 && a.Consuming() == 1
	})
	if r := response(t, newPyClient(t, conn, node).call(testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("reply %q", r.Message)
	}
}
