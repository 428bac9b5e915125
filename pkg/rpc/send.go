package rpc

import (
	"context"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Send publishes a message to target's message service: persistent,
// mandatory, and confirmed by a broker before it returns, failing over to
// the next broker on a nack, a dead connection or a confirm timeout.
func (s *Sender) Send(ctx context.Context, target string, params any) error {
	t, raw, err := encode(target, params)
	if err != nil {
		return err
	}
	if s.closed() {
		return ErrClosed
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	start := s.began(KindSend, t)
	err = s.send(ctx, target, t, raw)
	s.ended(KindSend, t, err, start)
	return err
}

func (s *Sender) send(ctx context.Context, target string, t Target, raw []byte) error {
	now := time.Now()
	ev, headers, err := s.signed("message", t, raw, now, tracing.Headers)
	if err != nil {
		return err
	}
	msg := amqp.Publishing{
		Headers:      headers,
		DeliveryMode: amqp.Persistent,
		MessageId:    ev.ID,
		Timestamp:    now,
		Body:         codec.EncodeEvent(&ev),
	}
	ctx, span := s.tr.Start(ctx, "send", trace.SpanKindProducer)
	defer span.End()
	if span.IsRecording() {
		span.SetName(t.spanName("send "))
		tracing.Message{Op: tracing.OpSend, OpName: "send", Exchange: s.exchange, RoutingKey: t.Node,
			ID: ev.ID, BodySize: len(msg.Body)}.SetAttributes(span)
	}
	s.tr.Inject(ctx, msg.Headers)
	if _, err := s.pub.PublishAMQP(ctx, s.exchange, t.Node, msg); err != nil {
		err = callError(ctx, target, err)
		tracing.Fail(span, err)
		return err
	}
	return nil
}
