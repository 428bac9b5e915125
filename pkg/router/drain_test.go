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

func TestCloseDrainsTheCallInFlightAndStopsConsuming(t *testing.T) {
	conn, node := freshNode(t, "drain")
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var exited bool
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "slow", func(ctx context.Context, req *router.Request) (any, error) {
			started <- struct{}{}
			<-release
			return "done", nil
		})
		a.OnExit(func() { exited = true })
	})
	c := newPyClient(t, conn, node)
	reply := c.start(testkit.PyCall("1", todayToken(), "x", "slow", "null"), amqp.Publishing{})
	<-started

	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	// The consumer is cancelled at once: a call published now stays queued.
	testkit.Eventually(t, 5*time.Second, "consumer cancelled", func() bool {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(node, true, false, false, false, nil)
		return err == nil && q.Consumers == 0
	})
	later := c.start(testkit.PyCall("2", todayToken(), "x", "slow", "null"), amqp.Publishing{})
	select {
	case err := <-closed:
		t.Fatalf("Close returned before the call in flight finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(release)
	d := testkit.Receive(t, reply, 5*time.Second, "the call in flight was not answered")
	if got := response(t, d).Message; got != `"done"` {
		t.Errorf("reply %q", got)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !exited {
		t.Error("OnExit hook did not run")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if st := a.Stats(); st.Acked != 1 || st.Requeued != 0 || st.Consuming != 0 {
		t.Errorf("stats after close: %+v", st)
	}
	if n := queueDepth(t, conn, node); n != 1 {
		t.Errorf("queue holds %d messages, want the 1 call published during close", n)
	}
	select {
	case <-later:
		t.Error("a call published during close was answered")
	default:
	}
}

func TestCloseWithoutStartAndStartAfterClose(t *testing.T) {
	if _, err := router.NewAgent(router.Config{
		Endpoints: nil, NodeName: "n", Tokens: nil,
	}, nil); err == nil {
		t.Fatal("config without endpoints and tokens accepted")
	}
	a, err := router.NewAgent(testConfig("sbtest-never-started"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != router.ErrClosed {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestRunServesUntilTheContextEnds(t *testing.T) {
	conn, node := freshNode(t, "run")
	a, err := router.NewAgent(testConfig(node), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.AddRPCService("math", "add", add)
	var startedHook bool
	a.OnStart(func(context.Context) error { startedHook = true; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, "consuming", func() bool { return a.Consuming() == 1 })
	if !startedHook {
		t.Error("OnStart hook did not run")
	}
	r := response(t, newPyClient(t, conn, node).call(testkit.PyCall("1", todayToken(), "math", "add", "[2, 3]"), 5*time.Second))
	if r.Message != "5" {
		t.Errorf("reply %q", r.Message)
	}
	cancel()
	if err := testkit.Receive(t, done, 10*time.Second, "Run did not return after its context ended"); err != nil {
		t.Fatal(err)
	}
}

// Closing under load loses nothing: every message was either run and acked
// or is still in the queue.
func TestCloseUnderLoadLosesNothing(t *testing.T) {
	conn, node := freshNode(t, "load")
	const total = 300
	var runs atomic.Int32
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("x", "y", func(ctx context.Context, req *router.Request) error {
			time.Sleep(2 * time.Millisecond)
			runs.Add(1)
			return nil
		})
	}, func(c *router.Config) { c.Concurrency = 8 })
	c := newPyClient(t, conn, node)
	for range total {
		c.send(testkit.PyCall("1", todayToken(), "x", "y", "null"))
	}
	testkit.Eventually(t, 10*time.Second, "some messages done", func() bool { return runs.Load() >= 20 })
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	if int(st.Acked) != int(runs.Load()) || st.Rejected != 0 {
		t.Errorf("runs %d, stats %+v", runs.Load(), st)
	}
	testkit.Eventually(t, 5*time.Second, "every message run or back in the queue", func() bool {
		return queueDepth(t, conn, node)+int(runs.Load()) == total
	})
}

// A call that outlives the drain is not answered by the agent that gives
// up on it (its context is cancelled with ErrDrainTimeout): it goes back to
// the broker, and the next agent of the node answers it.
func TestCallCutShortByCloseIsGivenBackUnanswered(t *testing.T) {
	conn, node := freshNode(t, "givenback")
	started := make(chan struct{}, 1)
	var cause atomic.Value
	first := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "y", func(ctx context.Context, req *router.Request) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return nil, ctx.Err()
		})
	}, func(c *router.Config) { c.DrainTimeout = 100 * time.Millisecond })
	c := newPyClient(t, conn, node)
	reply := c.start(testkit.PyCall("1", todayToken(), "x", "y", "null"), amqp.Publishing{})
	<-started
	_ = first.Close()
	if st := first.Stats(); st.Replies != 0 || st.Requeued != 1 || st.ServiceErrors != 0 {
		t.Fatalf("first agent: %+v", st)
	}
	if got, _ := cause.Load().(error); !errors.Is(got, router.ErrDrainTimeout) {
		t.Errorf("the service's context ended with %v, want ErrDrainTimeout", got)
	}
	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "y", func(context.Context, *router.Request) (any, error) { return "second", nil })
	})
	d := testkit.Receive(t, reply, 5*time.Second, "the call given back was never answered")
	if got := response(t, d).Message; got != `"second"` {
		t.Errorf("the call was answered %q, want the second agent's answer", got)
	}
}
