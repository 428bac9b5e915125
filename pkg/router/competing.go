package router

import (
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// competingConsumers returns the check that path i runs once it has declared
// the node queue: at the path's first set-up it logs when other consumers
// already consume that queue, most likely another agent started with the same
// node name. That is allowed by design (competing consumers: each call goes to
// one of them) but easy to do by mistake. This agent's own consumers on other
// paths to the same cluster (cluster.go) are not counted. Later
// reconnects are not checked: the broker may still count the consumer of a
// connection it has not yet noticed is dead.
func (a *Agent) competingConsumers(i int, broker string) func(conn *amqp.Connection) {
	var checked atomic.Bool
	return func(conn *amqp.Connection) {
		if checked.Swap(true) {
			return
		}
		consumers, err := countConsumers(conn, a.cfg.NodeName)
		if err != nil {
			a.logger.Debug("Could not count the consumers of the node queue", watermill.LogFields{"broker": broker, "err": err})
			return
		}
		own := a.ownConsumers(i, conn, consumers)
		if others := consumers - own; others > 0 {
			a.logger.Info(fmt.Sprintf("%d consumers share %s: competing consumers", consumers+1, a.cfg.NodeName),
				watermill.LogFields{
					"broker": broker,
					"others": others,
					"why":    "another agent with the same node name consumes this queue; each call and message goes to one of them",
				})
		}
	}
}

// countConsumers passively declares queue on a channel of its own (a failed
// passive declare closes its channel) and returns its consumer count.
func countConsumers(conn *amqp.Connection, queue string) (int, error) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Consumers, nil
}

// ownConsumers is how many of the agent's paths other than i consume the
// queue that path i, on conn, counts consumers of: those whose broker is
// in conn's cluster. It asks only when the queue has consumers.
func (a *Agent) ownConsumers(i int, conn *amqp.Connection, consumers int) int {
	others := a.otherPaths(i)
	if consumers == 0 || len(others) == 0 {
		return 0
	}
	marker, err := a.declareMarker(conn)
	if err != nil {
		return 0
	}
	defer dropMarker(marker, conn)
	return len(seeing(marker, others))
}
