package tracing

import (
	"context"
	"errors"
	"maps"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// countingProp is W3C propagation that counts its extracts.
type countingProp struct {
	propagation.TraceContext
	extracts *int
}

func (p countingProp) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	*p.extracts++
	return p.TraceContext.Extract(ctx, c)
}

// A call span links to the span context its reply's headers carry, once;
// a reply without a valid one adds no link, and a call span that does not
// record does not read the headers at all.
func TestLinkReplyLinksARecordingCallSpanToTheRepliedContext(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var extracts int
	tr := New(tp, countingProp{extracts: &extracts})

	_, span := tr.Start(context.Background(), "call", trace.SpanKindClient)
	tr.LinkReply(span, amqp.Table{"traceparent": validParent})
	span.End()
	links := rec.Ended()[0].Links()
	if len(links) != 1 || links[0].SpanContext.TraceID().String() != validParent[3:35] ||
		links[0].SpanContext.SpanID().String() != validParent[36:52] || !links[0].SpanContext.IsRemote() {
		t.Errorf("links %+v, want the remote span of %s", links, validParent)
	}

	_, span = tr.Start(context.Background(), "call", trace.SpanKindClient)
	tr.LinkReply(span, amqp.Table{"traceparent": "00-zz-yy-01"})
	tr.LinkReply(span, nil)
	span.End()
	if links := rec.Ended()[1].Links(); len(links) != 0 {
		t.Errorf("links %+v after a bad and no traceparent, want none", links)
	}

	extracts = 0
	off := New(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())), countingProp{extracts: &extracts})
	_, span = off.Start(context.Background(), "call", trace.SpanKindClient)
	off.LinkReply(span, amqp.Table{"traceparent": validParent})
	span.End()
	if extracts != 0 {
		t.Errorf("%d extracts for a span that does not record, want 0", extracts)
	}
}

// A span keeps the attributes a Message set on it when the pooled buffer
// they came through is used again for another span.
func TestMessageAttributesStayWithTheirSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), nil)
	_, call := tr.Start(context.Background(), "call", trace.SpanKindClient)
	Message{Op: OpSend, OpName: "call", Exchange: "ex", RoutingKey: "NODE", ID: "id-1", ConversationID: "id-1", BodySize: 200}.SetAttributes(call)
	_, process := tr.Start(context.Background(), "process", trace.SpanKindServer)
	Message{Op: OpProcess, OpName: "process", Exchange: "ex2", RoutingKey: "NODE2", ID: "id-2"}.SetAttributes(process)
	process.End()
	call.End()

	want := map[string]map[attribute.Key]string{
		"call": {"messaging.system": "rabbitmq", "messaging.operation.type": "send", "messaging.operation.name": "call",
			"messaging.destination.name": "ex", "messaging.rabbitmq.destination.routing_key": "NODE",
			"messaging.message.id": "id-1", "messaging.message.conversation_id": "id-1", "messaging.message.body.size": "200"},
		// No conversation id, no body size: not set.
		"process": {"messaging.system": "rabbitmq", "messaging.operation.type": "process", "messaging.operation.name": "process",
			"messaging.destination.name": "ex2", "messaging.rabbitmq.destination.routing_key": "NODE2", "messaging.message.id": "id-2"},
	}
	for _, s := range rec.Ended() {
		got := map[attribute.Key]string{}
		for _, kv := range s.Attributes() {
			got[kv.Key] = kv.Value.String()
		}
		if !maps.Equal(got, want[s.Name()]) {
			t.Errorf("span %q attributes %v, want %v", s.Name(), got, want[s.Name()])
		}
	}
}

// Fail marks a recording span failed with the error's text, and leaves a
// span without an error as it was.
func TestFailSetsTheErrorStatusOnlyForAnError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)), nil)
	_, failed := tr.Start(context.Background(), "call", trace.SpanKindClient)
	Fail(failed, errors.New("rpc: timeout"))
	failed.End()
	_, fine := tr.Start(context.Background(), "call", trace.SpanKindClient)
	Fail(fine, nil)
	fine.End()
	ended := rec.Ended()
	if st := ended[0].Status(); st.Code != codes.Error || st.Description != "rpc: timeout" {
		t.Errorf("failed span's status %+v, want Error \"rpc: timeout\"", st)
	}
	if st := ended[1].Status(); st.Code != codes.Unset {
		t.Errorf("status %+v after Fail(nil), want Unset", st)
	}
}
