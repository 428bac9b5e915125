package router

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Which of the agent's paths reach the same RabbitMQ cluster is asked of the
// brokers: a queue declared on one node is seen by a passive declare on
// every node of its cluster, and by no other broker. The cluster_name a
// broker announces cannot tell: it is each node's own name unless an
// operator set one.

// markerExpiry is how long an unused marker queue lives (x-expires): a
// check needs it for a few round trips, and one left behind by a lost
// connection goes by itself.
const markerExpiry = 60_000 // ms

// declareMarker declares a marker queue on conn and returns its name.
func (a *Agent) declareMarker(conn *amqp.Connection) (string, error) {
	name := fmt.Sprintf("servicebus.cluster-check.%s.%s", a.cfg.NodeName, watermill.NewShortUUID())
	ch, err := conn.Channel()
	if err != nil {
		return "", err
	}
	defer ch.Close()
	if _, err := ch.QueueDeclare(name, false, false, false, false, amqp.Table{"x-expires": int32(markerExpiry)}); err != nil {
		return "", err
	}
	return name, nil
}

// seeing returns the paths of pcs whose broker sees the queue marker: the
// same cluster as the broker it was declared on. A path whose passive
// declare fails is another broker (404), or a connection that is going
// anyway.
func seeing(marker string, pcs []*pathConn) []*pathConn {
	var same []*pathConn
	for _, pc := range pcs {
		if _, err := countConsumers(pc.conn, marker); err == nil {
			same = append(same, pc)
		}
	}
	return same
}

// dropMarker deletes marker through the first connection that can; if none
// can, it expires.
func dropMarker(marker string, conns ...*amqp.Connection) {
	for _, conn := range conns {
		if deleteQueue(conn, marker) == nil {
			return
		}
	}
}

// otherPaths are the agent's live paths other than path i.
func (a *Agent) otherPaths(i int) []*pathConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*pathConn
	for j, pc := range a.conns {
		if j != i && pc != nil {
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
