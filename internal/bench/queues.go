package bench

import (
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// queues is the bench process's own connection, apart from every
// implementation's: it declares the queues of send mode (which no server
// side declares) and deletes every queue of the run at the end.
type queues struct {
	conn *amqp.Connection
	topo topology.Topology
	mu   sync.Mutex
}

func dialQueues(url string, topo topology.Topology) (*queues, error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return nil, fmt.Errorf("bench: broker: %w", err)
	}
	return &queues{conn: conn, topo: topo}, nil
}

// channel runs fn on a channel of its own: a failed operation closes the
// channel it ran on, not the next one's.
func (q *queues) channel(fn func(ch *amqp.Channel) error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch, err := q.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	return fn(ch)
}

// declare declares a node queue as the topology does for an agent.
func (q *queues) declare(name string) error {
	return q.channel(func(ch *amqp.Channel) error { return q.topo.DeclareNodeQueue(ch, name) })
}

// delete deletes a queue and its messages (RabbitMQ answers a queue that
// is not there as deleted).
func (q *queues) delete(name string) error {
	err := q.channel(func(ch *amqp.Channel) error {
		_, err := ch.QueueDelete(name, false, false, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: delete queue %s: %w", name, err)
	}
	return nil
}

func (q *queues) close() { q.conn.Close() }
