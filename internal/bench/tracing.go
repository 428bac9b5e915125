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
// that batches spans to an exporter that drops them, and the global
// propagator W3C trace context. servicebus uses the global ones, so this is
// the cost of tracing short of the export. sample is the share of root
// spans sampled (0 or 1: every one); a span with a remote parent follows
// the parent's choice, so a call's spans are all sampled or none. It
// returns the provider's shutdown.
func tracingOn(sample float64) func() error {
	sampler := sdktrace.AlwaysSample()
	if sample > 0 && sample < 1 {
		sampler = sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discardSpans{}))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return func() error { return tp.Shutdown(context.Background()) }
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
