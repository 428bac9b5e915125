package router_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// gauge records how many calls run at once.
type gauge struct {
	now, max atomic.Int32
}

func (g *gauge) enter() {
	n := g.now.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.now.Add(-1) }

// slowService holds each call until `want` calls run at once (or hold
// passed), so overlap is measured, not inferred from timing.
func slowService(g *gauge, want int32, hold time.Duration) router.RPCService {
	return func(ctx context.Context, req *router.Request) (any, error) {
		g.enter()
		defer g.leave()
		deadline := time.Now().Add(hold)
		for g.max.Load() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return req.ID, nil
	}
}

func TestThirtyTwoSlowCallsOverlap(t *testing.T) {
	conn, node := freshNode(t, "overlap")
	var g gauge
	startAgent(t, node, func(a *router.Agent) { a.AddRPCService("x", "slow", slowService(&g, 32, 5*time.Second)) })
	c := newPyClient(t, conn, node)

	replies := make([]<-chan amqp.Delivery, 32)
	for i := range replies {
		replies[i] = c.start(testkit.PyCall("id", todayToken(), "x", "slow", "null"), amqp.Publishing{})
	}
	for i, r := range replies {
		select {
		case d := <-r:
			if got := response(t, d).Message; got != `"id"` {
				t.Errorf("reply %d: %q", i, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("reply %d missing", i)
		}
	}
	if m := g.max.Load(); m != 32 {
		t.Fatalf("at most %d calls ran at once, want 32", m)
	}
}

func TestConcurrencyBoundsCallsInFlight(t *testing.T) {
	conn, node := freshNode(t, "bound")
	var g gauge
	startAgent(t, node, func(a *router.Agent) { a.AddRPCService("x", "slow", slowService(&g, 5, 200*time.Millisecond)) },
		func(c *router.Config) { c.Concurrency = 4 })
	c := newPyClient(t, conn, node)
	var wg sync.WaitGroup
	for range 12 {
		r := c.start(testkit.PyCall("id", todayToken(), "x", "slow", "null"), amqp.Publishing{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-r:
			case <-time.After(20 * time.Second):
				t.Error("reply missing")
			}
		}()
	}
	wg.Wait()
	if m := g.max.Load(); m != 4 {
		t.Fatalf("%d calls ran at once with Concurrency 4", m)
	}
}

// Concurrency caps the deliveries in flight across all brokers, not per
// broker: each broker's prefetch alone would let 2×Concurrency run. Two
// endpoints to the same broker give the agent two connections that each
// take Concurrency deliveries of the node queue.
func TestConcurrencyCapsCallsInFlightAcrossBrokers(t *testing.T) {
	conn, node := freshNode(t, "bound2")
	var g gauge
	// Each call waits for 8 at once (or 800 ms): with the cap at 4 it never
	// sees them; without it the broker's 2×4 deliveries all run.
	a := startAgent(t, node, func(a *router.Agent) { a.AddRPCService("x", "slow", slowService(&g, 8, 800*time.Millisecond)) },
		func(c *router.Config) {
			c.Concurrency = 4
			c.Endpoints = []broker.Endpoint{{URL: brokerURL()}, {URL: brokerURL()}}
		})
	c := newPyClient(t, conn, node)
	var replies []<-chan amqp.Delivery
	for range 16 {
		replies = append(replies, c.start(testkit.PyCall("id", todayToken(), "x", "slow", "null"), amqp.Publishing{}))
	}
	for i, r := range replies {
		select {
		case <-r:
		case <-time.After(30 * time.Second):
			t.Fatalf("reply %d missing", i)
		}
	}
	if m := g.max.Load(); m != 4 {
		t.Fatalf("%d calls ran at once on two brokers with Concurrency 4", m)
	}
	testkit.Eventually(t, 5*time.Second, "16 calls acked", func() bool { return a.Stats().Acked == 16 })
}
