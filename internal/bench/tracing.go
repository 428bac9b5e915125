package bench

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// opTracing asks the server process to turn tracing on (Options.Tracing).
const opTracing = "tracing"

// tracingOn makes OpenTelemetry's global TracerProvider an SDK provider
// that samples every span and batches it to an exporter that drops it, and
// the global propagator W3C trace context. servicebus uses the global ones,
// so this is the cost of tracing short of the export. It returns the
// provider's shutdown.
func tracingOn() func() error {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return func() error { return tp.Shutdown(context.Background()) }
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
