package tracing

import (
	"context"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every span servicebus starts.
const ScopeName = "github.com/go-servicebus/servicebus"

// Tracing is the tracer and propagator of one sender or agent.
type Tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New uses tp and prop, or the global TracerProvider and propagator where
// they are nil. The global ones are delegates: a provider or propagator set
// with otel.SetTracerProvider or otel.SetTextMapPropagator after New is
// used from then on.
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator) Tracing {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	return Tracing{tracer: tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)), prop: prop}
}

// kindOptions are the start options of each span kind, made once: a
// variadic call through the Tracer interface would allocate them per span.
var kindOptions = [...][]trace.SpanStartOption{
	trace.SpanKindServer:   {trace.WithSpanKind(trace.SpanKindServer)},
	trace.SpanKindClient:   {trace.WithSpanKind(trace.SpanKindClient)},
	trace.SpanKindProducer: {trace.WithSpanKind(trace.SpanKindProducer)},
	trace.SpanKindConsumer: {trace.WithSpanKind(trace.SpanKindConsumer)},
}

// Start starts a span of kind (server, client, producer or consumer) under
// ctx. Its name is op alone: the caller sets the full name and the
// attributes only when the span records.
func (t Tracing) Start(ctx context.Context, op string, kind trace.SpanKind) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, op, kindOptions[kind]...)
}

// Inject writes the trace context of ctx into headers, which must not be
// nil.
func (t Tracing) Inject(ctx context.Context, headers amqp.Table) {
	t.prop.Inject(ctx, TableCarrier(headers))
}

// InjectLazy is Inject into *headers, making the table only when the
// propagator writes something.
func (t Tracing) InjectLazy(ctx context.Context, headers *amqp.Table) {
	t.prop.Inject(ctx, lazyTable{headers})
}

// ExtractTable returns ctx with the remote trace context of AMQP headers.
func (t Tracing) ExtractTable(ctx context.Context, headers amqp.Table) context.Context {
	if len(headers) == 0 {
		return ctx
	}
	return t.prop.Extract(ctx, TableCarrier(headers))
}

// ExtractText returns ctx with the remote trace context of headers as
// text (a Watermill message's metadata).
func (t Tracing) ExtractText(ctx context.Context, headers map[string]string) context.Context {
	if len(headers) == 0 {
		return ctx
	}
	return t.prop.Extract(ctx, TextCarrier(headers))
}

// LinkReply links span, a call's, to the span context the headers of its
// reply carry: the agent's process span. The headers are read only when
// span records, and a reply without a valid context adds no link.
func (t Tracing) LinkReply(span trace.Span, headers amqp.Table) {
	if len(headers) == 0 || !span.IsRecording() {
		return
	}
	if remote := trace.SpanContextFromContext(t.ExtractTable(context.Background(), headers)); remote.IsValid() {
		span.AddLink(trace.Link{SpanContext: remote})
	}
}

// The values of messaging.operation.type.
var (
	OpSend    = semconv.MessagingOperationTypeSend
	OpProcess = semconv.MessagingOperationTypeProcess
)

// Message is what the attributes of a span about one AMQP message say.
type Message struct {
	Op         attribute.KeyValue // OpSend, OpProcess
	OpName     string             // "call", "send", "process"
	Exchange   string
	RoutingKey string
	ID         string // message id
	// ConversationID is the correlation id of a call and its reply.
	ConversationID string
	BodySize       int
}

// maxAttributes is how many attributes a Message has at most.
const maxAttributes = 8

// attrBufs hold the attributes of one span while span.SetAttributes takes
// them: a slice made per span would be an allocation (512 bytes) a span.
// Reusing the buffer is safe because a span keeps its own copy: the SDK's
// appends them to its attributes, as SetAttributes' variadic signature
// lets any caller expect.
var attrBufs = sync.Pool{New: func() any { return new([maxAttributes]attribute.KeyValue) }}

// SetAttributes sets the OpenTelemetry messaging attributes of m on span.
func (m Message) SetAttributes(span trace.Span) {
	buf := attrBufs.Get().(*[maxAttributes]attribute.KeyValue)
	span.SetAttributes(m.appendTo(buf[:0])...)
	*buf = [maxAttributes]attribute.KeyValue{} // no message's strings kept alive in the pool
	attrBufs.Put(buf)
}

// appendTo appends the attributes of m to kv.
func (m Message) appendTo(kv []attribute.KeyValue) []attribute.KeyValue {
	kv = append(kv, semconv.MessagingSystemRabbitMQ, m.Op, semconv.MessagingOperationName(m.OpName),
		semconv.MessagingDestinationName(m.Exchange), semconv.MessagingRabbitMQDestinationRoutingKey(m.RoutingKey))
	if m.ID != "" {
		kv = append(kv, semconv.MessagingMessageID(m.ID))
	}
	if m.ConversationID != "" {
		kv = append(kv, semconv.MessagingMessageConversationID(m.ConversationID))
	}
	if m.BodySize > 0 {
		kv = append(kv, semconv.MessagingMessageBodySize(m.BodySize))
	}
	return kv
}

// Fail marks span as failed with err's text (codes.Error).
func Fail(span trace.Span, err error) {
	if err == nil || !span.IsRecording() {
		return
	}
	span.SetStatus(codes.Error, err.Error())
}
