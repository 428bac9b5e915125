package topology_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
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

// Compat topology declares what py-servicebus declares, so its declare
// succeeds on an exchange and a queue that a Python process declared first
// (a direct, non-durable exchange; a durable, shared queue bound by the
// node name) and fails, naming the object, on ones declared otherwise.
func TestCompatDeclaresWhatPyServicebusDeclared(t *testing.T) {
	url := brokertest.RequireBroker(t)
	ch := testkit.Channel(t, url)
	exchange := testkit.UniqueName("sbtest-topology")
	node := exchange + "-NODE"
	testkit.DeleteExchanges(t, url, exchange)
	testkit.DeleteQueues(t, url, node)
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
	if got := testkit.Get(t, ch, node, 10*time.Second); string(got.Body) != "call" {
		t.Errorf("node queue got %q, want the call", got.Body)
	}

	// A durable exchange of the same name is not py-servicebus's.
	other := testkit.Channel(t, url) // closed by the refusal
	name := testkit.UniqueName("sbtest-topology")
	testkit.DeleteExchanges(t, url, name)
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
	url := brokertest.RequireBroker(t)
	ch := testkit.Channel(t, url)
	exchange := testkit.UniqueName("sbtest-topology")
	node := exchange + "-NODE"
	topo := topology.Topology{Kind: topology.Durable, Exchange: exchange}
	testkit.DeleteExchanges(t, url, exchange, topo.DeadLetterExchange())
	testkit.DeleteQueues(t, url, node, node+".dead")
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
	d := testkit.Get(t, ch, node, 10*time.Second)
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	dead := testkit.Get(t, ch, node+".dead", 10*time.Second)
	if string(dead.Body) != "poison" {
		t.Errorf("dead-letter queue got %q, want the rejected call", dead.Body)
	}
	if x, ok := dead.Headers["x-first-death-exchange"].(string); !ok || x != exchange {
		t.Errorf("dead-lettered from %v, want the call exchange %q", dead.Headers["x-first-death-exchange"], exchange)
	}
}
