package tracing

import (
	"context"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
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
