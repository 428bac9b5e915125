package tracing

import (
	"context"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

const validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func w3c() Tracing { return New(nil, propagation.TraceContext{}) }

func TestTraceContextReadFromStringAndByteHeaders(t *testing.T) {
	for name, v := range map[string]any{"string": validParent, "bytes": []byte(validParent)} {
		ctx := w3c().ExtractTable(context.Background(), amqp.Table{"traceparent": v})
		sc := trace.SpanContextFromContext(ctx)
		if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("%s header: span context %+v, want the remote one of %s", name, sc, validParent)
		}
	}
}

func TestHostileTraceHeadersAreIgnored(t *testing.T) {
	long := validParent + strings.Repeat("-ff", MaxTraceContext)
	cases := map[string]map[string]string{
		"malformed":            {"traceparent": "00-not-a-trace-parent-01"},
		"zero trace id":        {"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"},
		"oversized":            {"traceparent": long},
		"oversized future ver": {"traceparent": "01" + long[2:]},
		"not text":             nil,
	}
	for name, h := range cases {
		var ctx context.Context
		if h == nil {
			ctx = w3c().ExtractTable(context.Background(), amqp.Table{"traceparent": int32(7)})
		} else {
			ctx = w3c().ExtractText(context.Background(), h)
		}
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			t.Errorf("%s: extracted %+v, want nothing", name, sc)
		}
	}
}

func TestOversizedTracestateIsDroppedButTraceparentKept(t *testing.T) {
	h := map[string]string{"traceparent": validParent, "tracestate": "a=" + strings.Repeat("b", MaxTraceContext)}
	ctx := w3c().ExtractText(context.Background(), h)
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || sc.TraceState().Len() != 0 {
		t.Fatalf("span context %+v, want the traceparent's without tracestate", sc)
	}
	out := amqp.Table{}
	w3c().Inject(ctx, out)
	if out["traceparent"] != validParent {
		t.Errorf("injected %v, want traceparent %s", out, validParent)
	}
	if _, ok := out["tracestate"]; ok {
		t.Errorf("injected tracestate %q, want none", out["tracestate"])
	}
}

// TestTraceHeadersAtTheirBoundAreKept holds every carrier to its bounds
// exactly: a header of MaxTraceContext (or, for any other key,
// MaxOtherHeader) bytes is read, one byte more reads as absent, whether it
// came as an AMQP string, as bytes or as Watermill metadata.
func TestTraceHeadersAtTheirBoundAreKept(t *testing.T) {
	for key, limit := range map[string]int{"traceparent": MaxTraceContext, "tracestate": MaxTraceContext, "baggage": MaxOtherHeader} {
		for _, n := range []int{limit, limit + 1} {
			v := strings.Repeat("x", n)
			want := v
			if n > limit {
				want = ""
			}
			lazy := amqp.Table{key: v}
			got := map[string]string{
				"string": TableCarrier{key: v}.Get(key),
				"bytes":  TableCarrier{key: []byte(v)}.Get(key),
				"text":   TextCarrier{key: v}.Get(key),
				"lazy":   lazyTable{&lazy}.Get(key),
			}
			for carrier, g := range got {
				if g != want {
					t.Errorf("%s of %d bytes (bound %d) from a %s carrier: got %d bytes, want %d", key, n, limit, carrier, len(g), len(want))
				}
			}
		}
	}
}

// InjectLazy makes a header table only when the propagator writes one, and
// adds to a table that is there.
func TestInjectLazyMakesTheTableOnlyWhenNeeded(t *testing.T) {
	var none amqp.Table
	w3c().InjectLazy(context.Background(), &none) // no span context: nothing to write
	if none != nil {
		t.Errorf("headers %v without a span context, want no table", none)
	}
	ctx := w3c().ExtractText(context.Background(), map[string]string{"traceparent": validParent})
	var made amqp.Table
	w3c().InjectLazy(ctx, &made)
	if made["traceparent"] != validParent {
		t.Errorf("headers %v, want traceparent %s", made, validParent)
	}
	kept := amqp.Table{"x-sb-error-code": "e"}
	w3c().InjectLazy(ctx, &kept)
	if kept["traceparent"] != validParent || kept["x-sb-error-code"] != "e" {
		t.Errorf("headers %v, want traceparent added to the error code", kept)
	}
}
