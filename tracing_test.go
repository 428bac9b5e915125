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
// Request.Sender, its processing, both replies and their receipt.
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
	// The agent ends a process span when it settles the delivery, which
	// may be after the caller has its reply.
	testkit.Eventually(t, 10*time.Second, "8 spans ended", func() bool { return len(rec.Ended()) >= 8 })

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if _, dup := byName[s.Name()]; dup {
			t.Fatalf("two spans named %q", s.Name())
		}
		byName[s.Name()] = s
	}
	outer, inner := cfg.NodeName+".math.double_sum", cfg.NodeName+".math.add"
	span := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		s, ok := byName[name]
		if !ok {
			names := make([]string, 0, len(byName))
			for n := range byName {
				names = append(names, n)
			}
			t.Fatalf("no span %q among %q", name, names)
		}
		return s
	}
	call, process := span("call "+outer), span("process "+outer)
	nested, nestedProcess := span("call "+inner), span("process "+inner)
	receive, nestedReceive := span("receive "+outer), span("receive "+inner)
	var replies []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindProducer {
			replies = append(replies, s)
		}
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
	childOf(receive, call, false)
	childOf(nestedReceive, nested, false)
	if len(replies) != 2 {
		t.Fatalf("%d producer spans, want the 2 replies", len(replies))
	}
	for _, pair := range [][2]sdktrace.ReadOnlySpan{{process, receive}, {nestedProcess, nestedReceive}} {
		proc, recv := pair[0], pair[1]
		var reply sdktrace.ReadOnlySpan
		for _, r := range replies {
			if r.Parent().SpanID() == proc.SpanContext().SpanID() {
				reply = r
			}
		}
		if reply == nil {
			t.Errorf("no reply span under %q", proc.Name())
			continue
		}
		// The reply's trace context came back in its headers.
		if links := recv.Links(); len(links) != 1 || links[0].SpanContext.SpanID() != reply.SpanContext().SpanID() {
			t.Errorf("span %q links %v, want the reply span %s", recv.Name(), links, reply.SpanContext().SpanID())
		}
	}

	kinds := map[sdktrace.ReadOnlySpan]trace.SpanKind{call: trace.SpanKindClient, process: trace.SpanKindServer,
		nested: trace.SpanKindClient, nestedProcess: trace.SpanKindServer, receive: trace.SpanKindConsumer}
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
		got[kv.Key] = kv.Value.Emit()
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
