package router

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// A consumer that the broker cancels under a live connection most likely
// lost its queue: it was deleted. On a RabbitMQ cluster the node queue is one
// queue for every node, and every consumer of a deleted queue should be
// cancelled; but RabbitMQ 3.10 does not always tell those on the other nodes
// of a quorum queue (seen about once in a dozen deletes by
// TestClusterAgentsScaledOut and a delete loop on a 3-node cluster). Such a
// consumer stays idle on the deleted queue, and the queue declared again
// never counts it. So the agent reconnects, and thereby declares and
// consumes anew, every path to the same cluster as the one whose consumer
// was cancelled; paths to other brokers are left alone.
//
// Which paths reach the same cluster is asked of the brokers: a queue
// declared on one node is seen by a passive declare on every node of its
// cluster, and by no other broker. (The cluster_name a broker announces is
// its own node's name unless an operator set one, so it cannot tell.)

// errSiblingConsumerGone is the reason a path is reconnected when the
// broker cancelled this agent's consumer on another node of the same
// cluster.
var errSiblingConsumerGone = errors.New("router: consumer cancelled on another node of the cluster")

// markerExpiry is how long an unused marker queue lives (x-expires): the
// check needs it for a few round trips.
const markerExpiry = 60_000 // ms

// markCluster declares a marker queue on gone's connection, before that
// connection is closed, when the agent has other paths to check; it returns
// the marker's name, or "" when there is nothing to check or it failed.
func (a *Agent) markCluster(gone *pathConn) string {
	if len(a.siblings(gone)) == 0 {
		return ""
	}
	name := fmt.Sprintf("servicebus.cluster-check.%s.%s", a.cfg.NodeName, watermill.NewShortUUID())
	ch, err := gone.conn.Channel()
	if err != nil {
		return ""
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(name, false, false, false, false, amqp.Table{"x-expires": int32(markerExpiry)}); err != nil {
		a.logger.Debug("Could not declare the cluster marker queue", watermill.LogFields{"broker": gone.broker, "err": err})
		return ""
	}
	return name
}

// resubscribeCluster reconnects, in the background, every other path whose
// broker sees marker (the same cluster as gone's), then deletes the marker.
func (a *Agent) resubscribeCluster(gone *pathConn, marker string) {
	if marker == "" {
		return
	}
	siblings := a.siblings(gone)
	a.checksWG.Add(1)
	go func() {
		defer a.checksWG.Done()
		var same []*pathConn
		for _, pc := range siblings {
			if _, err := countConsumers(pc.conn, marker); err == nil {
				same = append(same, pc)
			} // else another broker (404), or a connection that is going anyway
		}
		// Only once every path looked: a path that finds it gone would
		// take its broker for another cluster.
		for _, pc := range same {
			if deleteQueue(pc.conn, marker) == nil {
				break
			}
		}
		for _, pc := range same {
			a.logger.Info("Consumer gone on another node of the cluster, reconnecting",
				watermill.LogFields{"broker": pc.broker, "cancelled_on": gone.broker})
			a.path(pc.index).KillConn(pc.conn, errSiblingConsumerGone)
		}
	}()
}

// siblings are the agent's live paths other than gone.
func (a *Agent) siblings(gone *pathConn) []*pathConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*pathConn
	for _, pc := range a.conns {
		if pc != nil && pc != gone {
			out = append(out, pc)
		}
	}
	return out
}

// deleteQueue deletes queue on a channel of its own.
func deleteQueue(conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	_, err = ch.QueueDelete(queue, false, false, false)
	return err
}
