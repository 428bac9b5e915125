package topology_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func TestDefaultsAndDeadLetterExchange(t *testing.T) {
	cases := []struct {
		topo          topology.Topology
		exchange, dlx string
	}{
		{topology.Topology{}, "py-servicebus", ""},
		{topology.Topology{Kind: topology.Compat, Exchange: "x"}, "x", ""},
		{topology.Topology{Kind: topology.Durable}, "py-servicebus", "py-servicebus.dlx"},
		{topology.Topology{Kind: topology.Durable, Exchange: "calls"}, "calls", "calls.dlx"},
	}
	for _, c := range cases {
		if got := c.topo.ExchangeName(); got != c.exchange {
			t.Errorf("%+v: exchange %q, want %q", c.topo, got, c.exchange)
		}
		if got := c.topo.DeadLetterExchange(); got != c.dlx {
			t.Errorf("%+v: dead-letter exchange %q, want %q", c.topo, got, c.dlx)
		}
		if err := c.topo.Validate(); err != nil {
			t.Errorf("%+v: %v", c.topo, err)
		}
	}
	err := topology.Topology{Kind: "quorum"}.Validate()
	if err == nil || !strings.Contains(err.Error(), `"quorum"`) || !strings.Contains(err.Error(), `"compat"`) {
		t.Errorf("unknown kind: %v, want an error naming it and the kinds there are", err)
	}
}

// channel is a channel on the test broker and a fresh name for this test's
// exchange; the exchanges and queues the test names are deleted after it.
func channel(t *testing.T) (*amqp.Channel, string) {
	t.Helper()
	conn, err := amqp.Dial(brokertest.RequireBroker(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch, "sbtest-topology-" + rand.Text()[:10]
}

// cleanup deletes exchanges and queues on a channel of its own (the test's
// may be closed by a refused declare).
func cleanup(t *testing.T, exchanges, queues []string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(brokertest.RequireBroker(t))
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Error(err)
			return
		}
		for _, q := range queues {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
		for _, x := range exchanges {
			_ = ch.ExchangeDelete(x, false, false)
		}
	})
}

// Compat topology declares what py-servicebus declares, so its declare
// succeeds on an exchange and a queue that a Python process declared first
// (a direct, non-durable exchange; a durable, shared queue bound by the
// node name) and fails, naming the object, on ones declared otherwise.
func TestCompatDeclaresWhatPyServicebusDeclared(t *testing.T) {
	ch, exchange := channel(t)
	node := exchange + "-NODE"
	cleanup(t, []string{exchange}, []string{node})
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeDirect, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(node, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	topo := topology.Topology{Exchange: exchange}
	if err := topo.DeclareNodeQueue(ch, node); err != nil {
		t.Fatalf("compat declare over py-servicebus's objects: %v", err)
	}
	// Bound by the node name: a call routed by it reaches the queue.
	if err := ch.Publish(exchange, node, true, false, amqp.Publishing{Body: []byte("call")}); err != nil {
		t.Fatal(err)
	}
	if got := waitGet(t, ch, node); string(got.Body) != "call" {
		t.Errorf("node queue got %q, want the call", got.Body)
	}

	// A durable exchange of the same name is not py-servicebus's.
	other, name := channel(t)
	cleanup(t, []string{name}, nil)
	if err := other.ExchangeDeclare(name, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	err := topology.Topology{Exchange: name}.DeclareExchange(other)
	var amqpErr *amqp.Error
	if !errors.As(err, &amqpErr) || amqpErr.Code != amqp.PreconditionFailed || !strings.Contains(err.Error(), name) {
		t.Errorf("compat declare over a durable exchange: %v, want PRECONDITION_FAILED naming %q", err, name)
	}
}

// Durable topology declares a quorum node queue that dead-letters a
// rejected call to NODE.dead through EXCHANGE.dlx.
func TestDurableDeadLettersARejectedCall(t *testing.T) {
	ch, exchange := channel(t)
	node := exchange + "-NODE"
	topo := topology.Topology{Kind: topology.Durable, Exchange: exchange}
	cleanup(t, []string{exchange, topo.DeadLetterExchange()}, []string{node, node + ".dead"})
	if err := topo.DeclareNodeQueue(ch, node); err != nil {
		t.Fatal(err)
	}
	// Declared twice, as every reconnect does: the same arguments.
	if err := topo.DeclareNodeQueue(ch, node); err != nil {
		t.Fatalf("second declare: %v", err)
	}
	if err := ch.Publish(exchange, node, true, false, amqp.Publishing{Body: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	d := waitGet(t, ch, node)
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	dead := waitGet(t, ch, node+".dead")
	if string(dead.Body) != "poison" {
		t.Errorf("dead-letter queue got %q, want the rejected call", dead.Body)
	}
	if x, ok := dead.Headers["x-first-death-exchange"].(string); !ok || x != exchange {
		t.Errorf("dead-lettered from %v, want the call exchange %q", dead.Headers["x-first-death-exchange"], exchange)
	}
}

// waitGet gets one message from queue, waiting up to 10 s for it.
func waitGet(t *testing.T, ch *amqp.Channel, queue string) amqp.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing in %s after 10 s", queue)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
