package router

import (
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
		span.SetName(a.processName(dl))
		tracing.Message{Op: tracing.OpProcess, OpName: "process", Exchange: dl.Exchange,
			RoutingKey: dl.RoutingKey, ID: clip(dl.MessageId, maxLogField), ConversationID: clip(dl.CorrelationId, maxLogField),
			BodySize: len(dl.Body)}.SetAttributes(span)
	}
	dl.span, dl.spanCtx = span, ctx
	msg.SetContext(ctx)
}

// processName is the name of dl's process span: "process NODE.CAT.NAME",
// made in one concatenation (one string a recorded span), the part after
// "process " clipped as a log field.
func (a *Agent) processName(dl *delivery) string {
	const op = "process "
	if req := dl.decoded.req; req != nil {
		return clip(op+a.cfg.NodeName+"."+req.Category+"."+req.Service, len(op)+maxLogField)
	}
	return clip(op+a.cfg.NodeName, len(op)+maxLogField)
}

// endSpan ends the process span of dl, failed when err is not nil.
func (dl *delivery) endSpan(err error) {
	if dl.span == nil {
		return
	}
	tracing.Fail(dl.span, err)
	dl.span.End()
}

// replyFailed records on dl's process span that its reply could not be
// published: an exception event, since the status the span ends with is
// that of the settlement (endSpan), which would overwrite a status set now.
func (dl *delivery) replyFailed(err error) {
	if dl.span != nil {
		dl.span.RecordError(err)
	}
}

// errNotAcked is the status of a process span whose delivery was rejected
// or given back to the broker.
var errNotAcked = errors.New("router: delivery not acked")

// traceReply writes the trace context of dl's process span into the
// reply's headers, so that the caller's call span can link to the agent's
// work (no span of its own: the process span lasts until the reply is
// confirmed); a structured error in the reply marks the process span
// failed.
//
// Under a process span without a trace (the no-op default, no traceparent)
// there is nothing to write; nor under a trace that is not sampled: the
// caller's call span does not record either (a sampler follows the caller's
// choice), so nobody would read it, and the reply goes without a header
// table to encode and decode.
func (a *Agent) traceReply(dl *delivery, pub *amqp.Publishing) {
	if dl.span == nil || !dl.span.SpanContext().IsSampled() {
		return
	}
	if code, ok := pub.Headers[codec.HeaderErrorCode].(string); ok && dl.span.IsRecording() {
		dl.span.SetStatus(codes.Error, code)
	}
	headers := pub.Headers
	a.tr.InjectLazy(dl.spanCtx, &headers)
	pub.Headers = headers
}
