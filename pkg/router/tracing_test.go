package router_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// A py-servicebus caller sends no traceparent, and a hostile one sends a
// bad or oversized one: each call is answered, its process span is a root
// span, and the reply carries that span's context; a tracestate over 512
// bytes is not echoed.
func TestCallsWithoutOrWithBadTraceparentAreAnsweredUnderARootSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	conn, node := freshNode(t, "trace")
	startAgent(t, node, func(a *router.Agent) { a.AddRPCService("math", "add", add) }, func(c *router.Config) {
		c.TracerProvider = tp
		c.Propagator = propagation.TraceContext{}
	})
	c := newPyClient(t, conn, node)

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	huge := parent + strings.Repeat("x", 64<<10)
	// 32 members of 256 bytes: a valid tracestate, but over what we pass on.
	var members []string
	for i := range 32 {
		members = append(members, fmt.Sprintf("k%02d=%s", i, strings.Repeat("v", 252)))
	}
	cases := map[string]amqp.Table{
		"none":                    nil,
		"malformed":               {"traceparent": "00-zz-yy-01", "tracestate": "=,=,="},
		"oversized":               {"traceparent": huge},
		"oversized future format": {"traceparent": "cc" + huge[2:]},
		"not text":                {"traceparent": int64(42)},
		// The traceparent holds; the tracestate is dropped.
		"oversized tracestate": {"traceparent": parent, "tracestate": strings.Join(members, ",")},
	}
	for name, headers := range cases {
		before := len(rec.Ended())
		var d amqp.Delivery
		select {
		case d = <-c.start(vectorXML(t, "math", "add", "[1, 2]"), amqp.Publishing{Headers: headers}):
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no reply", name)
		}
		if r := response(t, d); r.Message != "3" {
			t.Errorf("%s: reply %q, want 3", name, r.Message)
		}
		testkit.Eventually(t, 5*time.Second, name+": process span ended", func() bool { return len(rec.Ended()) >= before+2 })
		var process sdktrace.ReadOnlySpan
		for _, s := range rec.Ended()[before:] {
			if s.SpanKind() == trace.SpanKindServer {
				process = s
			}
		}
		if process == nil {
			t.Fatalf("%s: no process span", name)
		}
		if name == "oversized tracestate" {
			if got := process.Parent().TraceID().String(); got != parent[3:35] {
				t.Errorf("%s: process span in trace %s, want %s", name, got, parent[3:35])
			}
		} else if process.Parent().IsValid() {
			t.Errorf("%s: process span has parent %v, want a root span", name, process.Parent())
		}
		want := "00-" + process.SpanContext().TraceID().String() + "-"
		if tp, _ := d.Headers["traceparent"].(string); !strings.HasPrefix(tp, want) || len(tp) != 55 {
			t.Errorf("%s: reply traceparent %q, want one of trace %s", name, tp, process.SpanContext().TraceID())
		}
		if ts, ok := d.Headers["tracestate"]; ok {
			t.Errorf("%s: reply echoes tracestate %.40q", name, ts)
		}
	}
}
