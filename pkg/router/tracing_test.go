package router_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// A py-servicebus caller sends no traceparent, and a hostile one sends a
// bad or oversized one: each call is answered, its process span is a root
// span, and the reply carries that span's context; a tracestate over 512
// bytes is not echoed. No span but the process span is made.
func TestCallsWithoutOrWithBadTraceparentAreAnsweredUnderARootSpan(t *testing.T) {
	c, rec := tracedNode(t, "trace", func(a *router.Agent) { a.AddRPCService("math", "add", add) })

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
		d := replyTo(t, c, vectorXML(t, "math", "add", "[1, 2]"), amqp.Publishing{Headers: headers}, name)
		if r := response(t, d); r.Message != "3" {
			t.Errorf("%s: reply %q, want 3", name, r.Message)
		}
		testkit.Eventually(t, 5*time.Second, name+": process span ended", func() bool { return len(rec.Ended()) >= before+1 })
		ended := rec.Ended()[before:]
		if len(ended) != 1 || ended[0].SpanKind() != trace.SpanKindServer {
			t.Fatalf("%s: spans %v, want the process span alone", name, ended)
		}
		process := ended[0]
		if name == "oversized tracestate" {
			if got := process.Parent().TraceID().String(); got != parent[3:35] {
				t.Errorf("%s: process span in trace %s, want %s", name, got, parent[3:35])
			}
		} else if process.Parent().IsValid() {
			t.Errorf("%s: process span has parent %v, want a root span", name, process.Parent())
		}
		// The process span's own context: the caller links to it.
		sc := process.SpanContext()
		want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-"
		if tp, _ := d.Headers["traceparent"].(string); !strings.HasPrefix(tp, want) || len(tp) != 55 {
			t.Errorf("%s: reply traceparent %q, want the process span's %s", name, tp, want)
		}
		if ts, ok := d.Headers["tracestate"]; ok {
			t.Errorf("%s: reply echoes tracestate %.40q", name, ts)
		}
	}
}

// A reply with an error code marks the process span failed with that code;
// without a reply span of its own, the error reply carries the process
// span's context as any reply does.
func TestAnErrorReplyFailsTheProcessSpan(t *testing.T) {
	c, rec := tracedNode(t, "tracefail", func(a *router.Agent) {
		a.AddRPCService("math", "fail", func(context.Context, *router.Request) (any, error) {
			return nil, errors.New("division by zero")
		})
	})
	d := replyTo(t, c, testkit.PyCall("1", todayToken(), "math", "fail", "[]"), amqp.Publishing{}, "failing call")
	process := failedProcessSpan(t, d, rec)
	if st := process.Status(); st.Code != codes.Error || st.Description != string(codec.CodeServiceError) {
		t.Errorf("process span status %+v, want error %s", st, codec.CodeServiceError)
	}
}

// A reply too large for the broker (here: headers past frame_max, added by
// a middleware) is answered with an error reply instead; the process span
// says why it failed, and the error reply still carries its context.
func TestAReplyTooLargeFailsTheProcessSpan(t *testing.T) {
	inflate := func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			for _, m := range out {
				m.Metadata.Set("x-padding", strings.Repeat("p", 256<<10))
			}
			return out, err
		}
	}
	c, rec := tracedNode(t, "tracebig", func(a *router.Agent) { a.AddRPCService("math", "add", add, inflate) })
	d := replyTo(t, c, vectorXML(t, "math", "add", "[1, 2]"), amqp.Publishing{}, "call with a huge reply")
	process := failedProcessSpan(t, d, rec)
	if st := process.Status(); st.Code != codes.Error || !strings.Contains(st.Description, "frame_max") {
		t.Errorf("process span status %+v, want an error about the frame size", st)
	}
}

// A call whose trace the caller did not sample (traceparent flags 00) is
// answered without trace headers: the agent's sampler follows the caller, so
// its process span does not record, and the caller's span, which would link
// to it, does not either. A sampled call's reply carries the process span's
// context.
func TestAReplyToAnUnsampledCallCarriesNoTraceHeader(t *testing.T) {
	c, _ := tracedNode(t, "traceunsampled", func(a *router.Agent) { a.AddRPCService("math", "add", add) },
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, flags := range []string{"00", "01"} {
		d := replyTo(t, c, vectorXML(t, "math", "add", "[1, 2]"),
			amqp.Publishing{Headers: amqp.Table{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-" + flags}}, "flags "+flags)
		if r := response(t, d); r.Message != "3" {
			t.Errorf("flags %s: reply %q, want 3", flags, r.Message)
		}
		got, found := d.Headers["traceparent"].(string)
		switch flags {
		case "00":
			if found {
				t.Errorf("unsampled call: reply traceparent %q, want none", got)
			}
		case "01":
			if !strings.HasPrefix(got, "00-"+traceID+"-") || !strings.HasSuffix(got, "-01") {
				t.Errorf("sampled call: reply traceparent %q, want a sampled context of trace %s", got, traceID)
			}
		}
	}
}

// tracedNode starts an agent on a fresh node, set up by setup, with an SDK
// tracer provider (opts, recording into the returned recorder) and W3C
// propagation, and returns a py-servicebus client of that node.
func tracedNode(t *testing.T, prefix string, setup func(*router.Agent), opts ...sdktrace.TracerProviderOption) (*pyClient, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithSpanProcessor(rec))...)
	conn, node := freshNode(t, prefix)
	startAgent(t, node, setup, func(c *router.Config) {
		c.TracerProvider = tp
		c.Propagator = propagation.TraceContext{}
	})
	return newPyClient(t, conn, node), rec
}

// replyTo publishes body with pub's properties through c and returns the
// reply, which must come within 5 s.
func replyTo(t *testing.T, c *pyClient, body []byte, pub amqp.Publishing, what string) amqp.Delivery {
	t.Helper()
	select {
	case d := <-c.start(body, pub):
		return d
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no reply", what)
		return amqp.Delivery{}
	}
}

// failedProcessSpan checks that d is an error reply (service_error) that
// carries the context of the process span rec saw end, and returns that
// span.
func failedProcessSpan(t *testing.T, d amqp.Delivery, rec *tracetest.SpanRecorder) sdktrace.ReadOnlySpan {
	t.Helper()
	if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodeServiceError) {
		t.Fatalf("reply error code %v, want %s", got, codec.CodeServiceError)
	}
	testkit.Eventually(t, 5*time.Second, "process span ended", func() bool { return len(rec.Ended()) >= 1 })
	process := rec.Ended()[0]
	sc := process.SpanContext()
	if tp, _ := d.Headers["traceparent"].(string); !strings.HasPrefix(tp, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-") {
		t.Errorf("error reply traceparent %q, want the process span's %s", tp, sc.SpanID())
	}
	return process
}
