package router

import (
	"errors"
	"time"

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
// consumes anew, every path to the same cluster (cluster.go) as the one
// whose consumer was cancelled; paths to other brokers are left alone.

// errQueueGone is the reason a path is reconnected when its node queue is
// gone though the broker cancelled no consumer of it (watchQueue).
var errQueueGone = errors.New("router: node queue gone, no consumer cancelled")

// consumerGone reconnects pc, whose consumer is gone (reason), and the
// agent's other paths to the same cluster; once per connection.
func (a *Agent) consumerGone(pc *pathConn, reason error) {
	pc.goneOnce.Do(func() {
		others := a.otherPaths(pc.index)
		marker := a.markCluster(pc, others)
		a.path(pc.index).KillConn(pc.conn, reason)
		a.resubscribeCluster(pc, marker, others)
	})
}

// watchQueue checks, every probe interval, that the node queue pc consumes
// still exists. RabbitMQ 3.10 has also deleted a quorum queue without
// cancelling any of its consumers (seen once in about 130 deletes): they
// all stayed idle, the queue gone, until this check found it missing. It
// ends with the connection or the agent's feed.
func (a *Agent) watchQueue(pc *pathConn) {
	defer a.consumeWG.Done()
	interval := a.path(pc.index).ProbeInterval()
	if interval < 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-pc.down:
			return
		case <-a.stopFeed:
			return
		case <-tick.C:
		}
		_, err := countConsumers(pc.conn, a.watched)
		var amqpErr *amqp.Error
		if errors.As(err, &amqpErr) && amqpErr.Code == amqp.NotFound {
			a.logger.Info("Node queue gone without a cancel, reconnecting", watermill.LogFields{"broker": pc.broker, "queue": a.watched})
			a.consumerGone(pc, errQueueGone)
			return
		}
	}
}

// errSiblingConsumerGone is the reason a path is reconnected when the
// broker cancelled this agent's consumer on another node of the same
// cluster.
var errSiblingConsumerGone = errors.New("router: consumer cancelled on another node of the cluster")

// markCluster declares a marker queue on gone's connection, before that
// connection is closed, when the agent has other paths to check; it returns
// the marker's name, or "" when there is nothing to check or it failed.
func (a *Agent) markCluster(gone *pathConn, others []*pathConn) string {
	if len(others) == 0 {
		return ""
	}
	name, err := a.declareMarker(gone.conn)
	if err != nil {
		a.logger.Debug("Could not declare the cluster marker queue", watermill.LogFields{"broker": gone.broker, "err": err})
		return ""
	}
	return name
}

// resubscribeCluster reconnects, in the background, every path of others
// whose broker sees marker (the same cluster as gone's), then deletes the
// marker.
func (a *Agent) resubscribeCluster(gone *pathConn, marker string, others []*pathConn) {
	if marker == "" {
		return
	}
	a.checksWG.Add(1)
	go func() {
		defer a.checksWG.Done()
		// The marker goes only once every path looked: a path that found
		// it gone would take its broker for another cluster.
		same := seeing(marker, others)
		conns := make([]*amqp.Connection, len(same))
		for k, pc := range same {
			conns[k] = pc.conn
		}
		dropMarker(marker, conns...)
		for _, pc := range same {
			a.logger.Info("Consumer gone on another node of the cluster, reconnecting",
				watermill.LogFields{"broker": pc.broker, "cancelled_on": gone.broker})
			a.path(pc.index).KillConn(pc.conn, errSiblingConsumerGone)
		}
	}()
}
