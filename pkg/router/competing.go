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
// paths to the same cluster (equal cluster_name) are not counted. Later
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
		own := 0
		a.mu.Lock()
		for j, pc := range a.conns {
			if j != i && pc != nil && sameCluster(pc.conn, conn) {
				own++
			}
		}
		a.mu.Unlock()
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

// sameCluster reports whether two connections reach the same RabbitMQ
// cluster, by the cluster_name the broker announces.
func sameCluster(a, b *amqp.Connection) bool {
	na, _ := a.Properties["cluster_name"].(string)
	nb, _ := b.Properties["cluster_name"].(string)
	return na != "" && na == nb
}
