package router_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// queueDepth is the number of ready messages of a queue.
func queueDepth(t *testing.T, conn *amqp.Connection, queue string) int {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

func TestMessageServiceRunsAndIsAckedAfterItReturned(t *testing.T) {
	conn, node := freshNode(t, "msg")
	started := make(chan *router.Request, 1)
	release := make(chan struct{})
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("util", "print", func(ctx context.Context, req *router.Request) error {
			started <- req
			<-release
			return nil
		})
	})
	c := newPyClient(t, conn, node)
	c.send(vectorXML(t, "util", "print", `"Hello World!"`))

	req := <-started
	var s string
	if err := req.Decode(&s); err != nil || s != "Hello World!" || req.ID != "3" || req.IsRPC() {
		t.Fatalf("request %+v params %q err %v", req, s, err)
	}
	if req.Meta.Broker == "" || req.Meta.Redelivered {
		t.Errorf("metadata %+v", req.Meta)
	}
	// While the service runs the delivery is not acked.
	if st := a.Stats(); st.Acked != 0 || st.InFlight != 1 {
		t.Fatalf("while running: %+v", st)
	}
	close(release)
	testkit.Eventually(t, 5*time.Second, "message acked", func() bool { return a.Stats().Acked == 1 })
	if n := queueDepth(t, conn, node); n != 0 {
		t.Errorf("queue holds %d messages after the ack", n)
	}
}

// An agent that stops while a message service runs must not lose the
// message: it was not acked, so the broker delivers it again.
func TestMessageInterruptedByShutdownIsRedelivered(t *testing.T) {
	conn, node := freshNode(t, "redeliver")
	started := make(chan struct{}, 1)
	first := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("util", "print", func(ctx context.Context, req *router.Request) error {
			started <- struct{}{}
			<-ctx.Done() // never finishes on its own
			return ctx.Err()
		})
	}, func(c *router.Config) { c.DrainTimeout = 100 * time.Millisecond })
	c := newPyClient(t, conn, node)
	c.send(vectorXML(t, "util", "print", `"Hello World!"`))
	<-started
	_ = first.Close()
	if st := first.Stats(); st.Acked != 0 || st.Rejected != 0 || st.Requeued != 1 {
		t.Fatalf("first agent: %+v", st)
	}

	got := make(chan *router.Request, 1)
	startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("util", "print", func(ctx context.Context, req *router.Request) error {
			got <- req
			return nil
		})
	})
	select {
	case req := <-got:
		if !req.Meta.Redelivered {
			t.Errorf("second delivery not marked redelivered")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message lost: not delivered again")
	}
}

func TestFailingMessageIsRetriedThenRejected(t *testing.T) {
	conn, node := freshNode(t, "retry")
	var flaky, poison atomic.Int32
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("x", "flaky", func(ctx context.Context, req *router.Request) error {
			if flaky.Add(1) < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		a.AddMessageService("x", "poison", func(ctx context.Context, req *router.Request) error {
			poison.Add(1)
			return errors.New("always")
		})
	}, func(c *router.Config) {
		c.MessageRetry = router.RetryConfig{MaxRetries: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond}
	})
	c := newPyClient(t, conn, node)
	c.send(testkit.PyCall("1", todayToken(), "x", "flaky", "null"))
	c.send(testkit.PyCall("2", todayToken(), "x", "poison", "null"))
	testkit.Eventually(t, 5*time.Second, "one acked, one rejected", func() bool {
		s := a.Stats()
		return s.Acked == 1 && s.Rejected == 1
	})
	if flaky.Load() != 3 || poison.Load() != 3 {
		t.Errorf("attempts: flaky %d, poison %d; want 3 each (1 + 2 retries)", flaky.Load(), poison.Load())
	}
	if n := queueDepth(t, conn, node); n != 0 {
		t.Errorf("queue holds %d messages: the poison message was requeued", n)
	}
}

func TestMessageToAnRPCServiceRunsIt(t *testing.T) {
	conn, node := freshNode(t, "msgrpc")
	ran := make(chan struct{}, 1)
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", func(ctx context.Context, req *router.Request) (any, error) {
			ran <- struct{}{}
			return add(ctx, req)
		})
	})
	newPyClient(t, conn, node).send(vectorXML(t, "math", "add", "[1, 2]"))
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("RPC service not run for a message")
	}
	testkit.Eventually(t, 5*time.Second, "acked", func() bool { return a.Stats().Acked == 1 })
}

var errNope = errors.New("nope")
