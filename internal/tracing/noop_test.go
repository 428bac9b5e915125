package tracing

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// With OpenTelemetry's defaults (no provider, no propagator set) a traced
// publish allocates no more than the global no-op tracer's own span start,
// and the inject into a reply's headers makes no table.
func TestNoopTracingAddsNoAllocationToTheNoopSpan(t *testing.T) {
	ctx := context.Background()
	bare := otel.GetTracerProvider().Tracer("bare")
	base := testing.AllocsPerRun(1000, func() {
		_, span := bare.Start(ctx, "call")
		span.End()
	})
	tr := New(nil, nil)
	var headers amqp.Table
	table := amqp.Table{}
	ours := testing.AllocsPerRun(1000, func() {
		sctx, span := tr.Start(ctx, "call", trace.SpanKindClient)
		if span.IsRecording() {
			t.Fatal("the default span records")
		}
		tr.InjectLazy(sctx, &headers)
		tr.Inject(sctx, table)
		span.End()
	})
	if ours > base {
		t.Errorf("%.0f allocations a span, the no-op tracer alone makes %.0f", ours, base)
	}
	if headers != nil || len(table) != 0 {
		t.Errorf("inject wrote headers %v, %v", headers, table)
	}
}
