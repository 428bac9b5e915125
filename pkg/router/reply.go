package router

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/timerpool"
	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
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
		if err := checkReplyTo(dl.ReplyTo); err != nil {
			// Nobody can be answered there: the request is rejected.
			p.a.stats.replyFailures.Add(1)
			p.a.logRejection("reply_to", "Reply not sent: bad reply_to", nil, watermill.LogFields{
				"broker": dl.pc.broker, "reply_to": clipLog(dl.ReplyTo), "err": err.Error(),
			})
			dl.reject.Store(true)
			continue
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
	pub := amqp.Publishing{CorrelationId: dl.CorrelationId, Body: m.Payload}
	for k, v := range m.Metadata {
		// As codec.Marshaler: "amqp." keys are properties, never headers.
		if strings.HasPrefix(k, "amqp.") {
			continue
		}
		if pub.Headers == nil {
			pub.Headers = make(amqp.Table, len(m.Metadata))
		}
		pub.Headers[k] = v
	}
	pc := dl.pc
	a.traceReply(dl, &pub)
	a.signReply(m, &pub)
	if err := broker.CheckSize(pc.conn, &pub); err != nil {
		// Sent, it would close the connection: answer that instead.
		a.logger.Error("Reply too large for the broker; answering with an error", err, watermill.LogFields{"broker": pc.broker})
		e := &Error{Code: codec.CodeServiceError, Message: "reply too large for the broker: " + err.Error()}
		pub = amqp.Publishing{CorrelationId: dl.CorrelationId, Body: codec.EncodeResponse(&codec.Response{Message: clip(e.Message, MaxReplyText)}),
			Headers: amqp.Table{codec.HeaderErrorCode: string(e.Code), codec.HeaderErrorMessage: clip(e.Message, MaxReplyText)}}
		a.traceReply(dl, &pub)
		if dl.span != nil {
			// After traceReply, whose status is the error code alone.
			tracing.Fail(dl.span, err)
		}
		a.signReply(m, &pub)
	}
	// A suspect's reply goes out alone (poison.go).
	if dl.suspect {
		pc.replyGate.Lock()
		defer pc.replyGate.Unlock()
	} else {
		pc.replyGate.RLock()
		defer pc.replyGate.RUnlock()
	}
	pc.track(dl)
	confirm, err := pc.replyCh.PublishWithDeferredConfirm("", dl.ReplyTo, false, false, pub)
	if err == nil {
		err = awaitConfirm(confirm, a.cfg.ReplyTimeout)
	}
	if err != nil {
		// A reply that failed with its connection or channel stays
		// tracked: the broker's close may reach OnDown after it reached
		// us, and this reply may be the cause (poison.go).
		if !pc.conn.IsClosed() && !pc.replyCh.IsClosed() {
			pc.untrack(dl)
		}
		// Give the request back once so that an answer can still come.
		dl.requeue.Store(!dl.Redelivered)
		dl.replyFailed(err)
		return fmt.Errorf("router: reply to %s on %s: %w", clipLog(dl.ReplyTo), pc.broker, err)
	}
	pc.untrack(dl)
	if dl.suspect {
		a.poison.forgive(dl.suspectID)
	}
	return nil
}

// awaitConfirm waits up to timeout for the broker's confirm of a reply;
// a late one is context.DeadlineExceeded. A pooled timer bounds the wait:
// the context.WithTimeout it replaces cost five heap objects a call (its
// context, timer, callback and done channel), and the publish before it
// never blocked on a context anyway (amqp091-go only checks it first).
func awaitConfirm(dc *amqp.DeferredConfirmation, timeout time.Duration) error {
	t := timerpool.Get(timeout)
	defer timerpool.Put(t)
	select {
	case <-dc.Done():
		if !dc.Acked() {
			return errors.New("broker nacked the reply")
		}
		return nil
	case <-t.C:
		return context.DeadlineExceeded
	}
}

// signReply sets the reply signature header of hmac mode (token.ReplySigner)
// on pub, a reply to m's request: over the call's id, the correlation id,
// the body and the error headers, as the sender will read them.
func (a *Agent) signReply(m *message.Message, pub *amqp.Publishing) {
	signer, ok := a.cfg.Tokens.(token.ReplySigner)
	if !ok {
		return
	}
	id := ""
	if req, ok := RequestFromContext(m.Context()); ok {
		id = req.ID
	}
	if pub.Headers == nil {
		pub.Headers = make(amqp.Table, 1)
	}
	code, _ := pub.Headers[codec.HeaderErrorCode].(string)
	text, _ := pub.Headers[codec.HeaderErrorMessage].(string)
	pub.Headers[token.HeaderSignature] = signer.SignReply(&token.Reply{
		CallID: id, CorrelationID: pub.CorrelationId, Body: pub.Body, ErrorCode: code, ErrorMessage: text,
	})
}

// newReply is a reply message to msg: its context is msg's (so
// RequestFromContext finds the request), and it carries msg's correlation
// id (codec.MetaCorrelationID) for a publisher with codec.Marshaler.
func newReply(msg *message.Message, body []byte) *message.Message {
	reply := message.NewMessage(newUUID(), body)
	if id := msg.Metadata[codec.MetaCorrelationID]; id != "" {
		reply.Metadata[codec.MetaCorrelationID] = id
	}
	reply.SetContext(msg.Context())
	return reply
}

// newUUID is a random (version 4) UUID, as watermill.NewUUID makes, for a
// reply's message. Read into an array on the stack, it costs one heap
// object, the text, where watermill.NewUUID costs two. An agent's replies
// never send it (replyPublisher); a publisher with codec.Marshaler sends it
// as the message id.
func newUUID() string {
	var u uuid.UUID
	_, _ = rand.Read(u[:])  // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
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
	return newReply(msg, codec.EncodeResponse(&codec.Response{ID: id, Message: string(text)})), nil
}

// errorReply is the reply message of a failure: the text a py-servicebus
// caller expects in the body, code and text in headers for our sender.
// Texts and the echoed id are bounded (MaxReplyText): they may come from
// the request.
func errorReply(msg *message.Message, e *Error) *message.Message {
	id := ""
	if req, ok := RequestFromContext(msg.Context()); ok {
		id = req.ID
	}
	text := clip(e.Message, MaxReplyText)
	reply := newReply(msg, codec.EncodeResponse(&codec.Response{ID: clip(id, MaxReplyText), Message: text}))
	reply.Metadata.Set(codec.HeaderErrorCode, clip(string(e.Code), MaxReplyText))
	reply.Metadata.Set(codec.HeaderErrorMessage, text)
	return reply
}

func pongReply(msg *message.Message) *message.Message { return newReply(msg, codec.PongBody) }
