package bench

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options.Tracing makes both processes trace: this one through the global
// provider, the server process on its request.
func TestRunWithTracingTracesInBothProcesses(t *testing.T) {
	// The run sets the globals; later tests get no-op ones back.
	t.Cleanup(func() {
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})
	p, err := startServerProcess(testServerCommand(), Profiles{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.do(request{Op: opTracing}); err != nil {
		t.Errorf("server process refused to turn tracing on: %v", err)
	}
	if err := p.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	url := brokerURL(t)
	suffix := randomSuffix()
	rows, err := Run(context.Background(), Options{
		URL: url, Modes: []string{ModeRPC}, Impls: []string{ImplServicebus},
		Concurrency: []int{2}, N: 20, Rounds: 1, Timeout: 10 * time.Second,
		ServerCommand: testServerCommand, Suffix: suffix, Tracing: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].CallsPerS <= 0 {
		t.Fatalf("rows %+v, want one with calls", rows)
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		t.Errorf("global TracerProvider %T after a run with tracing, want the SDK's", otel.GetTracerProvider())
	}
	requireNoQueues(t, url, suffix)
}
