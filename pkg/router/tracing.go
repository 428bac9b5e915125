package router

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

// startSpan starts the process span of a routed delivery, under the trace
// context its headers carry (none: a root span, as for a py-servicebus
// caller), and puts it into the message's context, so a service's calls
// through Request.Sender are its children. A PING is not traced. The span
// ends when the delivery is settled (endSpan).
func (a *Agent) startSpan(msg *message.Message, dl *delivery) {
	if dl.decoded.ping {
		return
	}
	kind := trace.SpanKindConsumer
	if dl.ReplyTo != "" {
		kind = trace.SpanKindServer
	}
	ctx := a.tr.ExtractText(msg.Context(), msg.Metadata)
	ctx, span := a.tr.Start(ctx, "process", kind)
	if span.IsRecording() {
		name := a.cfg.NodeName
		if req := dl.decoded.req; req != nil {
			name += "." + req.Target()
		}
		span.SetName("process " + clip(name, maxLogField))
		span.SetAttributes(tracing.Message{Op: tracing.OpProcess, OpName: "process", Exchange: dl.Exchange,
			RoutingKey: dl.RoutingKey, ID: clip(dl.MessageId, maxLogField), ConversationID: clip(dl.CorrelationId, maxLogField),
			BodySize: len(dl.Body)}.Attributes()...)
	}
	dl.span = span
	msg.SetContext(ctx)
}

// endSpan ends the process span of dl, failed when err is not nil.
func (dl *delivery) endSpan(err error) {
	if dl.span == nil {
		return
	}
	tracing.Fail(dl.span, err)
	dl.span.End()
}

// errNotAcked is the status of a process span whose delivery was rejected
// or given back to the broker.
var errNotAcked = errors.New("router: delivery not acked")

// traceReply starts the span of the reply to dl, a child of its process
// span, and writes its trace context into the reply's headers; a
// structured error in the reply marks the process span failed.
//
// Under a process span without a trace (the no-op default, no traceparent)
// there is nothing to write, and no reply span either.
func (a *Agent) traceReply(dl *delivery, pub *amqp.Publishing) trace.Span {
	if dl.span == nil || !dl.span.SpanContext().IsValid() {
		return nil
	}
	if code, ok := pub.Headers[codec.HeaderErrorCode].(string); ok && dl.span.IsRecording() {
		dl.span.SetStatus(codes.Error, code)
	}
	ctx, span := a.tr.Start(trace.ContextWithSpan(context.Background(), dl.span), "reply", trace.SpanKindProducer)
	if span.IsRecording() {
		span.SetName("reply " + clip(dl.ReplyTo, maxLogField))
		span.SetAttributes(tracing.Message{Op: tracing.OpSend, OpName: "reply", RoutingKey: clip(dl.ReplyTo, maxLogField),
			ConversationID: clip(dl.CorrelationId, maxLogField), BodySize: len(pub.Body)}.Attributes()...)
	}
	headers := pub.Headers
	a.tr.InjectLazy(ctx, &headers)
	pub.Headers = headers
	return span
}
