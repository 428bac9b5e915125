package rpc

import (
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// inspectTimeout bounds the look at the node's queue that explains a timed
// out call; the call returns at most this much after its deadline (a call
// keeps its deadline within 100 ms). A passive declare takes about a
// millisecond on a healthy broker; a slower one leaves the timeout
// unexplained.
const inspectTimeout = 80 * time.Millisecond

// queueState is what a passive declare of a node queue on one broker showed.
type queueState struct {
	broker    string
	consumers int
	ready     int   // messages waiting, not yet handed to a consumer
	err       error // the queue could not be inspected
}

// explainTimeout adds to a call's timeout what the node's queue shows: no
// consumer (the agent is not running), messages waiting (the agent is
// behind), or neither (the agent took the call and did not answer in time).
// Other errors pass through. The result still matches ErrTimeout and
// context.DeadlineExceeded.
func (s *Sender) explainTimeout(node string, err error) error {
	if !errors.Is(err, ErrTimeout) || s.closed() {
		return err
	}
	why := explainQueues(node, s.inspectQueues(node, inspectTimeout))
	if why == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, why)
}

// inspectQueues passively declares node's queue on every connected broker at
// once and returns what answered within timeout, in config order. A passive
// declare creates nothing and, unlike the management API, needs no more
// rights than the sender has.
func (s *Sender) inspectQueues(node string, timeout time.Duration) []queueState {
	type answer struct {
		i int
		queueState
	}
	n := s.pub.Paths()
	answers := make(chan answer, n) // buffered: a late answer never blocks its goroutine
	asked := 0
	for i := range n {
		conn := s.pub.Path(i).Conn()
		if conn == nil {
			continue
		}
		asked++
		go func() {
			st := queueState{broker: s.cfg.Endpoints[i].String()}
			st.consumers, st.ready, st.err = passiveDeclare(conn, node)
			answers <- answer{i, st}
		}()
	}
	got := make([]*queueState, n)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for range asked {
		select {
		case a := <-answers:
			got[a.i] = &a.queueState
		case <-deadline.C:
			return compact(got)
		}
	}
	return compact(got)
}

func compact(states []*queueState) []queueState {
	var out []queueState
	for _, st := range states {
		if st != nil {
			out = append(out, *st)
		}
	}
	return out
}

// passiveDeclare reads the consumer count and ready messages of queue on a
// channel of its own: a failed passive declare closes its channel.
func passiveDeclare(conn *amqp.Connection, queue string) (consumers, ready int, err error) {
	ch, err := conn.Channel()
	if err != nil {
		return 0, 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return 0, 0, err
	}
	return q.Consumers, q.Messages, nil
}

// explainQueues says in words what the queue states mean for a call that
// timed out; "" when nothing could be inspected. With several brokers each
// is named.
func explainQueues(node string, states []queueState) string {
	var parts []string
	for _, st := range states {
		why := explainQueue(node, st)
		if why == "" {
			continue
		}
		if len(states) > 1 {
			why = st.broker + ": " + why
		}
		parts = append(parts, why)
	}
	return strings.Join(parts, "; ")
}

func explainQueue(node string, st queueState) string {
	var amqpErr *amqp.Error
	switch {
	case errors.As(st.err, &amqpErr) && amqpErr.Code == amqp.NotFound:
		return fmt.Sprintf("queue %s no longer exists: is its agent running?", node)
	case st.err != nil:
		return ""
	case st.consumers == 0 && st.ready > 0:
		return fmt.Sprintf("queue %s has no consumer and %s waiting: is its agent running?", node, messages(st.ready))
	case st.consumers == 0:
		return fmt.Sprintf("queue %s has no consumer: is its agent running?", node)
	case st.ready > 0:
		return fmt.Sprintf("%s waiting in queue %s: the agent is behind", messages(st.ready), node)
	default:
		return fmt.Sprintf("the agent took the call but did not answer in time: queue %s has %s and no message waiting", node, plural(st.consumers, "consumer"))
	}
}

func messages(n int) string { return plural(n, "message") }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
