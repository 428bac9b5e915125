package topology

import (
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Kind selects how exchanges and node queues are declared.
type Kind string

const (
	// Compat declares exactly what py-servicebus 2.x declares: a
	// direct, non-durable exchange and a durable, shared node queue.
	Compat Kind = "compat"
	// Durable declares a durable exchange, quorum node queues and a
	// dead-letter exchange (EXCHANGE.dlx) with one dead-letter queue per node
	// (NODE.dead). It must not share an exchange name with compat topology.
	Durable Kind = "durable"
)

// Topology is the broker objects a deployment uses.
type Topology struct {
	Kind     Kind   // "" means compat
	Exchange string // "" means "py-servicebus"
}

// DeliveryLimit is how often durable topology hands out one message before
// dead-lettering it.
const DeliveryLimit = 10

// DefaultExchange is py-servicebus's exchange name.
const DefaultExchange = "py-servicebus"

func (t Topology) withDefaults() Topology {
	if t.Kind == "" {
		t.Kind = Compat
	}
	if t.Exchange == "" {
		t.Exchange = DefaultExchange
	}
	return t
}

// ExchangeName is the exchange calls are published to.
func (t Topology) ExchangeName() string { return t.withDefaults().Exchange }

// DeadLetterExchange is the exchange that receives rejected messages in
// durable topology, "" in compat topology.
func (t Topology) DeadLetterExchange() string {
	t = t.withDefaults()
	if t.Kind != Durable {
		return ""
	}
	return t.Exchange + ".dlx"
}

// Validate reports an unknown kind.
func (t Topology) Validate() error {
	switch t.withDefaults().Kind {
	case Compat, Durable:
		return nil
	default:
		return fmt.Errorf("topology: unknown kind %q (want %q or %q)", t.Kind, Compat, Durable)
	}
}

// DeclareExchange declares the call exchange with the arguments of the
// topology kind. In compat topology these are py-servicebus's exact arguments,
// so the declare succeeds where a Python process declared it first.
func (t Topology) DeclareExchange(ch *amqp.Channel) error {
	t = t.withDefaults()
	durable := t.Kind == Durable
	if err := ch.ExchangeDeclare(t.Exchange, amqp.ExchangeDirect, durable, false, false, false, nil); err != nil {
		return fmt.Errorf("topology: declare exchange %q: %w", t.Exchange, err)
	}
	if durable {
		if err := ch.ExchangeDeclare(t.DeadLetterExchange(), amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
			return fmt.Errorf("topology: declare dead-letter exchange %q: %w", t.DeadLetterExchange(), err)
		}
	}
	return nil
}

// DeclareNodeQueue declares the exchange and the node's queue, bound by the
// node name; in durable topology also the node's dead-letter queue.
func (t Topology) DeclareNodeQueue(ch *amqp.Channel, node string) error {
	t = t.withDefaults()
	if err := t.DeclareExchange(ch); err != nil {
		return err
	}
	var args amqp.Table
	if t.Kind == Durable {
		dead := node + ".dead"
		if _, err := ch.QueueDeclare(dead, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
			return fmt.Errorf("topology: declare dead-letter queue %q: %w", dead, err)
		}
		if err := ch.QueueBind(dead, node, t.DeadLetterExchange(), false, nil); err != nil {
			return fmt.Errorf("topology: bind dead-letter queue %q: %w", dead, err)
		}
		args = amqp.Table{
			"x-queue-type": "quorum",
			// A delivery that keeps coming back (a body or header that
			// kills the consumer's connection before it can be acked) is
			// dead-lettered after this many returns instead of looping.
			"x-delivery-limit":          DeliveryLimit,
			"x-dead-letter-exchange":    t.DeadLetterExchange(),
			"x-dead-letter-routing-key": node,
		}
	}
	if _, err := ch.QueueDeclare(node, true, false, false, false, args); err != nil {
		return fmt.Errorf("topology: declare node queue %q: %w", node, err)
	}
	if err := ch.QueueBind(node, node, t.Exchange, false, nil); err != nil {
		return fmt.Errorf("topology: bind node queue %q to %q: %w", node, t.Exchange, err)
	}
	return nil
}
