package tracing

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// BenchmarkCallTracing is the tracing work of one call on both sides, as
// the sender and the agent do it: the call span and its inject, the
// agent's extract and process span, whose context goes into the reply's
// headers, and the call span's link to it when the reply arrives. Compare
// with servicebus bench's cpu/call: go test -run x -bench CallTracing
// ./internal/tracing
func BenchmarkCallTracing(b *testing.B) {
	b.Run("noop", func(b *testing.B) { benchCall(b, New(nil, nil)) })
	b.Run("sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discard{}))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		benchCall(b, New(tp, propagation.TraceContext{}))
	})
}

func benchCall(b *testing.B, tr Tracing) {
	b.ReportAllocs()
	for b.Loop() {
		// The sender.
		ctx, call := tr.Start(context.Background(), "call", trace.SpanKindClient)
		if call.IsRecording() {
			call.SetName("call NODE.math.add")
			Message{Op: OpSend, OpName: "call", Exchange: "py-servicebus", RoutingKey: "NODE", ID: "0123456789abcdef-1", ConversationID: "0123456789abcdef-1", BodySize: 200}.SetAttributes(call)
		}
		req := amqp.Table{"x-sb-deadline": "1"}
		tr.Inject(ctx, req)
		// The agent.
		meta := map[string]string{}
		for k, v := range req {
			meta[k], _ = v.(string)
		}
		pctx, process := tr.Start(tr.ExtractText(context.Background(), meta), "process", trace.SpanKindServer)
		if process.IsRecording() {
			process.SetName("process NODE.math.add")
			Message{Op: OpProcess, OpName: "process", Exchange: "py-servicebus", RoutingKey: "NODE", ID: "0123456789abcdef-1", ConversationID: "0123456789abcdef-1", BodySize: 200}.SetAttributes(process)
		}
		var replyHeaders amqp.Table
		if process.SpanContext().IsValid() {
			tr.InjectLazy(pctx, &replyHeaders)
		}
		process.End()
		// The sender again.
		tr.LinkReply(call, replyHeaders)
		call.End()
	}
}
