package router_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// targets records the services a middleware saw.
type targets struct {
	mu   sync.Mutex
	seen []string
}

func (s *targets) middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		req, _ := router.RequestFromContext(msg.Context())
		s.mu.Lock()
		s.seen = append(s.seen, req.Target())
		s.mu.Unlock()
		return h(msg)
	}
}

func (s *targets) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// Every service is a Watermill handler of its own, and middleware given to
// one service wraps that service alone.
func TestEveryServiceIsAHandlerWithMiddlewareOfItsOwn(t *testing.T) {
	conn, node := freshNode(t, "handlers")
	var viaArg, viaHandler targets
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add, viaArg.middleware)
		a.AddRPCService("math", "sum", add).AddMiddleware(viaHandler.middleware)
		a.AddMessageService("util", "print", func(context.Context, *router.Request) error { return nil })
	})
	handlers := a.Router().Handlers()
	for _, name := range []string{"rpc:math.add", "rpc:math.sum", "message:util.print", router.HandlerRPC, router.HandlerMessage} {
		if _, ok := handlers[name]; !ok {
			t.Errorf("no handler %q on the agent's router (has %d)", name, len(handlers))
		}
	}
	c := newPyClient(t, conn, node)
	for _, svc := range []string{"add", "sum", "add"} {
		if r := response(t, c.call(testkit.PyCall("1", todayToken(), "math", svc, "[1, 2]"), 5*time.Second)); r.Message != "3" {
			t.Fatalf("math.%s: %q", svc, r.Message)
		}
	}
	if got := viaArg.list(); len(got) != 2 || got[0] != "math.add" || got[1] != "math.add" {
		t.Errorf("middleware given to math.add saw %q", got)
	}
	if got := viaHandler.list(); len(got) != 1 || got[0] != "math.sum" {
		t.Errorf("middleware added to math.sum's handler saw %q", got)
	}
}

// A service added while the agent runs is served at once, with the
// middleware it was given, and so is its message counterpart.
func TestServiceAddedWhileTheAgentRunsIsServed(t *testing.T) {
	conn, node := freshNode(t, "late")
	a := startAgent(t, node, nil)
	c := newPyClient(t, conn, node)
	if r := response(t, c.call(testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "Cannot Find RPC Service: math.add" {
		t.Fatalf("before it was added: %q", r.Message)
	}
	var seen targets
	a.AddRPCService("math", "add", add, seen.middleware)
	got := make(chan string, 1)
	a.AddMessageService("util", "print", router.Message(func(_ context.Context, s string) error { got <- s; return nil }))
	if r := response(t, c.call(testkit.PyCall("2", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("after it was added: %q", r.Message)
	}
	if s := seen.list(); len(s) != 1 {
		t.Errorf("its middleware saw %q", s)
	}
	c.send(testkit.PyCall("3", todayToken(), "util", "print", `"late"`))
	s := testkit.Receive(t, got, 5*time.Second, "message service added while running was not run")
	if s != "late" {
		t.Errorf("message service got %q", s)
	}
}

// A handler of the user's own on the agent's router, with another
// subscriber, runs next to the services and untouched by servicebus: no
// decode, token or deadline check meets its messages.
func TestOwnHandlerOnTheAgentsRouterRunsUntouched(t *testing.T) {
	conn, node := freshNode(t, "own")
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, watermill.NopLogger{})
	defer pubsub.Close()
	var runs atomic.Int32
	got := make(chan *message.Message, 1)
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
		a.Router().AddConsumerHandler("audit", "audit", pubsub, func(msg *message.Message) error {
			runs.Add(1)
			if _, ok := router.RequestFromContext(msg.Context()); ok {
				t.Error("servicebus decoded a message of another subscriber")
			}
			got <- msg
			return nil
		})
	})
	// Not a call envelope, no token, a deadline long past: none of it is
	// servicebus's business here.
	msg := message.NewMessage("audit-1", []byte("not xml"))
	msg.Metadata.Set("x-sb-deadline", "1")
	published := make(chan error, 1)
	go func() { published <- pubsub.Publish("audit", msg) }() // returns once the handler acked it
	m := testkit.Receive(t, got, 5*time.Second, "the handler of another subscriber never ran")
	if err := testkit.Receive(t, published, 5*time.Second, "the message was never acked"); err != nil {
		t.Fatal(err)
	}
	if string(m.Payload) != "not xml" || m.UUID != "audit-1" || m.Metadata.Get("x-sb-deadline") != "1" {
		t.Errorf("the handler got %q %q %v", m.UUID, m.Payload, m.Metadata)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the handler ran %d times for one message (nacked and redelivered?)", n)
	}
	if r := response(t, newPyClient(t, conn, node).call(testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("the service beside it: %q", r.Message)
	}
	// One added while the agent runs starts with Watermill's RunHandlers.
	late := make(chan string, 1)
	a.Router().AddConsumerHandler("late-audit", "late-audit", pubsub, func(msg *message.Message) error {
		late <- msg.UUID
		return nil
	})
	if err := a.Router().RunHandlers(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() { _ = pubsub.Publish("late-audit", message.NewMessage("audit-2", nil)) }()
	id := testkit.Receive(t, late, 5*time.Second, "a handler added while the agent runs never ran")
	if id != "audit-2" {
		t.Errorf("the late handler got %q", id)
	}
	if s := a.Stats(); s.Received != 1 || s.Malformed != 0 {
		t.Errorf("agent stats %+v: the gochannel message was counted", s)
	}
}
