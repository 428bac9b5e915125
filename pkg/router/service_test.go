package router_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

type fakeCaller struct{ calls atomic.Int32 }

func (f *fakeCaller) Call(ctx context.Context, target string, params any) (*rpc.Reply, error) {
	f.calls.Add(1)
	return &rpc.Reply{ID: "x", Raw: `"called ` + target + `"`}, nil
}

func (f *fakeCaller) Send(ctx context.Context, target string, params any) error { return nil }

func TestServicesCallOthersThroughTheRequestsSender(t *testing.T) {
	conn, node := freshNode(t, "sender")
	caller := &fakeCaller{}
	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "proxy", func(ctx context.Context, req *router.Request) (any, error) {
			reply, err := req.Sender().Call(ctx, "OTHER.math.add", []int{1, 2})
			if err != nil {
				return nil, err
			}
			var s string
			if err := reply.Decode(&s); err != nil {
				return nil, err
			}
			return s, nil
		})
	}, func(c *router.Config) { c.Caller = caller })
	r := response(t, newPyClient(t, conn, node).call(testkit.PyCall("1", todayToken(), "x", "proxy", "null"), 5*time.Second))
	if r.Message != `"called OTHER.math.add"` {
		t.Errorf("reply %q", r.Message)
	}
	if caller.calls.Load() != 1 {
		t.Errorf("caller used %d times", caller.calls.Load())
	}
}

func TestTypedAdaptersDecodeParams(t *testing.T) {
	conn, node := freshNode(t, "typed")
	type pair struct{ A, B int }
	got := make(chan pair, 1)
	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "mul", router.RPC(func(_ context.Context, p pair) (int, error) { return p.A * p.B, nil }))
		a.AddMessageService("math", "log", router.Message(func(_ context.Context, p pair) error { got <- p; return nil }))
	})
	c := newPyClient(t, conn, node)
	if r := response(t, c.call(testkit.PyCall("1", todayToken(), "math", "mul", `{"a": 6, "b": 7}`), 5*time.Second)); r.Message != "42" {
		t.Errorf("reply %q", r.Message)
	}
	c.send(testkit.PyCall("2", todayToken(), "math", "log", `{"a": 1, "b": 2}`))
	select {
	case p := <-got:
		if p != (pair{1, 2}) {
			t.Errorf("params %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message service not run")
	}
}

// Watermill middleware works on services: Timeout bounds a message
// service, and user middleware sees the decoded request.
func TestUserAndWatermillMiddlewareWrapServices(t *testing.T) {
	conn, node := freshNode(t, "mw")
	var seen atomic.Value
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMiddleware(func(h message.HandlerFunc) message.HandlerFunc {
			return func(msg *message.Message) ([]*message.Message, error) {
				if req, ok := router.RequestFromContext(msg.Context()); ok {
					seen.Store(req.Target())
				}
				return h(msg)
			}
		})
		a.AddMessageMiddleware(middleware.Timeout(50 * time.Millisecond))
		a.AddMessageService("x", "slow", func(ctx context.Context, req *router.Request) error {
			<-ctx.Done()
			return router.Permanent(ctx.Err())
		})
	})
	newPyClient(t, conn, node).send(testkit.PyCall("1", todayToken(), "x", "slow", "null"))
	testkit.Eventually(t, 5*time.Second, "timed-out message rejected", func() bool { return a.Stats().Rejected == 1 })
	if got, _ := seen.Load().(string); got != "x.slow" {
		t.Errorf("middleware saw %q", got)
	}
}

func TestBadMessagesAreRejectedAndCounted(t *testing.T) {
	conn, node := freshNode(t, "badmsg")
	var runs atomic.Int32
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("x", "y", func(context.Context, *router.Request) error { runs.Add(1); return nil })
	})
	c := newPyClient(t, conn, node)
	c.send(testkit.PyCall("1", "bad", "x", "y", "null"))
	c.send(testkit.PyCall("2", todayToken(), "x", "unknown", "null"))
	c.send(codec.PingBody) // PING without reply_to is no ping
	testkit.Eventually(t, 5*time.Second, "three rejected", func() bool { return a.Stats().Rejected == 3 })
	s := a.Stats()
	if s.BadToken != 1 || s.UnknownService != 1 || s.Malformed != 1 || runs.Load() != 0 {
		t.Errorf("stats %+v runs %d", s, runs.Load())
	}
}

func TestAddServicePanicsOnMistakes(t *testing.T) {
	a, err := router.NewAgent(testConfig("sbtest-unstarted"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.AddRPCService("math", "add", add)
	for name, f := range map[string]func(){
		"duplicate":  func() { a.AddRPCService("math", "add", add) },
		"empty name": func() { a.AddRPCService("math", "", add) },
		"nil":        func() { a.AddMessageService("math", "x", nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "router:") {
					t.Errorf("%s: recovered %v", name, r)
				}
			}()
			f()
		}()
	}
}

func TestFailingStartHookStopsStart(t *testing.T) {
	a, err := router.NewAgent(testConfig("sbtest-hook"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.OnStart(func(context.Context) error { return errors.New("no database") })
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("Run: %v", err)
	}
}

func TestPanickingMessageServiceIsRejectedNotRetried(t *testing.T) {
	conn, node := freshNode(t, "msgpanic")
	var runs atomic.Int32
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddMessageService("x", "boom", func(context.Context, *router.Request) error { runs.Add(1); panic("boom") })
	})
	newPyClient(t, conn, node).send(testkit.PyCall("1", todayToken(), "x", "boom", "null"))
	testkit.Eventually(t, 5*time.Second, "rejected", func() bool { return a.Stats().Rejected == 1 })
	if s := a.Stats(); s.Panics != 1 || runs.Load() != 1 {
		t.Errorf("stats %+v runs %d", s, runs.Load())
	}
}
