package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// replyPublisher is the RPC handler's watermill publisher: it sends each
// reply on the broker and connection its request came from, to exchange ""
// with routing key reply_to and the request's correlation id. The router
// acks the request only after Publish returned nil.
type replyPublisher struct{ a *Agent }

func (p replyPublisher) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		dl := deliveryFrom(m)
		if dl == nil {
			return errors.New("router: reply without the delivery it answers")
		}
		if err := p.a.publishReply(dl, m); err != nil {
			p.a.stats.replyFailures.Add(1)
			return err
		}
		p.a.stats.replies.Add(1)
	}
	return nil
}

func (replyPublisher) Close() error { return nil }

func (a *Agent) publishReply(dl *delivery, m *message.Message) error {
	if len(dl.ReplyTo) > 255 {
		// The broker would close the channel on a routing key this long.
		return Permanent(fmt.Errorf("router: reply_to of %d bytes, AMQP allows 255", len(dl.ReplyTo)))
	}
	pub := amqp.Publishing{CorrelationId: dl.CorrelationId, Body: m.Payload}
	if len(m.Metadata) > 0 {
		pub.Headers = make(amqp.Table, len(m.Metadata))
		for k, v := range m.Metadata {
			pub.Headers[k] = v
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ReplyTimeout)
	defer cancel()
	pc := dl.pc
	pc.replyMu.Lock()
	confirm, err := pc.replyCh.PublishWithDeferredConfirmWithContext(ctx, "", dl.ReplyTo, false, false, pub)
	pc.replyMu.Unlock()
	if err == nil {
		var acked bool
		acked, err = confirm.WaitContext(ctx)
		if err == nil && !acked {
			err = errors.New("broker nacked the reply")
		}
	}
	if err != nil {
		// Give the request back once so that an answer can still come.
		dl.requeue.Store(!dl.Redelivered)
		return fmt.Errorf("router: reply to %s on %s: %w", dl.ReplyTo, pc.broker, err)
	}
	return nil
}

// resultReply is the reply message of a service's result: the response
// envelope with the result as JSON.
func resultReply(msg *message.Message, id string, result any) (*message.Message, error) {
	var text []byte
	switch r := result.(type) {
	case json.RawMessage:
		text = r
		if len(text) == 0 {
			text = []byte("null")
		}
	default:
		var err error
		if text, err = json.Marshal(result); err != nil {
			return nil, fmt.Errorf("result is not JSON: %w", err)
		}
	}
	reply := message.NewMessage(watermill.NewUUID(), codec.EncodeResponse(&codec.Response{ID: id, Message: string(text)}))
	reply.SetContext(msg.Context())
	return reply, nil
}

// errorReply is the reply message of a failure: the text a py-servicebus
// caller expects in the body, code and text in headers for our sender.
func errorReply(msg *message.Message, id string, e *Error) *message.Message {
	reply := message.NewMessage(watermill.NewUUID(), codec.EncodeResponse(&codec.Response{ID: id, Message: e.Message}))
	reply.Metadata.Set(codec.HeaderErrorCode, string(e.Code))
	reply.Metadata.Set(codec.HeaderErrorMessage, e.Message)
	reply.SetContext(msg.Context())
	return reply
}

func pongReply(msg *message.Message) *message.Message {
	reply := message.NewMessage(watermill.NewUUID(), codec.PongBody)
	reply.SetContext(msg.Context())
	return reply
}
