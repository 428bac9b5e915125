package servicebus_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/servicebustest"
)

// A call to a service that calls another service is one trace: the
// sender's call, the agent's processing, the nested call made with
// Request.Sender and its processing. Each reply carries its process span's
// context back, and the call span it answers links to that span.
func TestOneTraceJoinsCallProcessingNestedCallAndReplies(t *testing.T) {
	var n *servicebustest.Node
	n, rec := tracedNode(t, func(agent *servicebus.Agent) {
		agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, p []int) (int, error) { return p[0] + p[1], nil }))
		agent.AddRPCService("math", "double_sum", func(ctx context.Context, req *servicebus.Request) (any, error) {
			reply, err := req.Sender().Call(ctx, n.Target("math.add"), req.Params)
			if err != nil {
				return nil, err
			}
			var sum int
			if err := reply.Decode(&sum); err != nil {
				return nil, err
			}
			return 2 * sum, nil
		})
	})
	cfg := n.Config
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if _, err := n.Call(ctx, "math.double_sum", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	outer, inner := cfg.NodeName+".math.double_sum", cfg.NodeName+".math.add"
	// The agent ends a process span when it settles the delivery, which
	// may be after the caller has its reply.
	testkit.Eventually(t, 10*time.Second, "both process spans ended", func() bool {
		ended := 0
		for _, s := range rec.Ended() {
			if s.Name() == "process "+outer || s.Name() == "process "+inner {
				ended++
			}
		}
		return ended == 2
	})

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if _, dup := byName[s.Name()]; dup {
			t.Fatalf("two spans named %q", s.Name())
		}
		byName[s.Name()] = s
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	span := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no span %q among %q", name, names)
		}
		return s
	}
	call, process := span("call "+outer), span("process "+outer)
	nested, nestedProcess := span("call "+inner), span("process "+inner)
	// Four spans a call: no reply span, no receive span.
	if len(byName) != 4 {
		t.Errorf("spans %q, want the 2 calls and their 2 process spans", names)
	}

	traceID := call.SpanContext().TraceID()
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != traceID {
			t.Errorf("span %q is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), traceID)
		}
	}
	if call.Parent().IsValid() {
		t.Errorf("the caller's call span has parent %s, want a root span", call.Parent().SpanID())
	}
	childOf := func(child, parent sdktrace.ReadOnlySpan, remote bool) {
		t.Helper()
		if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.Parent().IsRemote() != remote {
			t.Errorf("span %q: parent %s (remote %v), want %q %s (remote %v)", child.Name(),
				child.Parent().SpanID(), child.Parent().IsRemote(), parent.Name(), parent.SpanContext().SpanID(), remote)
		}
	}
	childOf(process, call, true)
	childOf(nested, process, false)
	childOf(nestedProcess, nested, true)
	// The process span's context came back in the reply's headers.
	for _, pair := range [][2]sdktrace.ReadOnlySpan{{call, process}, {nested, nestedProcess}} {
		c, proc := pair[0], pair[1]
		links := c.Links()
		if len(links) != 1 || links[0].SpanContext.SpanID() != proc.SpanContext().SpanID() ||
			links[0].SpanContext.TraceID() != traceID || !links[0].SpanContext.IsRemote() {
			t.Errorf("span %q links %v, want the remote span %q %s", c.Name(), links, proc.Name(), proc.SpanContext().SpanID())
		}
	}
	for _, s := range []sdktrace.ReadOnlySpan{process, nestedProcess} {
		if links := s.Links(); len(links) != 0 {
			t.Errorf("span %q links %v, want none", s.Name(), links)
		}
	}

	kinds := map[sdktrace.ReadOnlySpan]trace.SpanKind{call: trace.SpanKindClient, process: trace.SpanKindServer,
		nested: trace.SpanKindClient, nestedProcess: trace.SpanKindServer}
	for s, want := range kinds {
		if s.SpanKind() != want {
			t.Errorf("span %q kind %s, want %s", s.Name(), s.SpanKind(), want)
		}
	}
	want := map[attribute.Key]string{
		"messaging.system": "rabbitmq", "messaging.destination.name": cfg.ExchangeName,
		"messaging.rabbitmq.destination.routing_key": cfg.NodeName, "messaging.operation.type": "send",
	}
	checkAttrs(t, call, want)
	want["messaging.operation.type"] = "process"
	checkAttrs(t, process, want)
	msgID := func(s sdktrace.ReadOnlySpan) string {
		for _, kv := range s.Attributes() {
			if kv.Key == "messaging.message.id" {
				return kv.Value.AsString()
			}
		}
		return ""
	}
	if id := msgID(call); id == "" || msgID(process) != id {
		t.Errorf("message ids: call %q, process %q; want the same, not empty", id, msgID(process))
	}
}

// tracedNode starts a node (servicebustest.StartNode) whose agent and
// sender trace into the returned recorder with W3C propagation.
func tracedNode(t *testing.T, register func(*servicebus.Agent)) (*servicebustest.Node, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) }) // after the node's: cleanups run last first
	n := servicebustest.StartNode(t, "", register, func(c *servicebus.Config) {
		c.TracerProvider = tp
		c.Propagator = propagation.TraceContext{}
	})
	return n, rec
}

func checkAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want map[attribute.Key]string) {
	t.Helper()
	got := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		got[kv.Key] = kv.Value.String()
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("span %q: %s = %q, want %q", s.Name(), k, got[k], v)
		}
	}
}

// A send and its processing by a message service are one trace: a producer
// span and a consumer span under it.
func TestSendAndItsProcessingAreOneTrace(t *testing.T) {
	n, rec := tracedNode(t, func(agent *servicebus.Agent) {
		agent.AddMessageService("log", "note", servicebus.Message(func(context.Context, string) error { return nil }))
	})
	cfg := n.Config
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if err := n.Send(ctx, "log.note", "hello"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "2 spans ended", func() bool { return len(rec.Ended()) >= 2 })
	var send, process sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindProducer:
			send = s
		case trace.SpanKindConsumer:
			process = s
		}
	}
	if send == nil || process == nil {
		t.Fatalf("spans %v, want a producer and a consumer", rec.Ended())
	}
	if process.Parent().SpanID() != send.SpanContext().SpanID() || !process.Parent().IsRemote() {
		t.Errorf("process span %q has parent %s, want the send span %q %s", process.Name(), process.Parent().SpanID(), send.Name(), send.SpanContext().SpanID())
	}
	if want := "send " + cfg.NodeName + ".log.note"; send.Name() != want {
		t.Errorf("send span %q, want %q", send.Name(), want)
	}
	checkAttrs(t, process, map[attribute.Key]string{"messaging.system": "rabbitmq", "messaging.operation.type": "process",
		"messaging.rabbitmq.destination.routing_key": cfg.NodeName})
}
