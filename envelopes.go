package servicebus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Envelopes builds the Watermill messages of calls and sends to agents, so
// that any Watermill publisher can talk to them: a watermill-amqp publisher
// with codec.Marshaler, a failover.Wrapper over several, an outbox. Each
// message is what a Sender publishes: the py-servicebus call envelope as
// payload, signed by the config's token_mode, and the AMQP properties as
// codec.Marshaler metadata (codec.Meta* keys); the event id is the message
// UUID, which the agent's service sees as Request.ID.
//
// Publish the message with the node as topic to the config's exchange_name,
// routing key = topic (see the Envelopes example). Unlike a Sender, nothing
// here waits for a reply: a call's reply (the response envelope,
// codec.DecodeResponse) is published to the default exchange with routing
// key replyTo and the message's correlation id, and failures carry the
// codec.HeaderErrorCode header. Envelopes is safe for concurrent use.
type Envelopes struct {
	signer      token.Signer
	callTimeout time.Duration
}

// NewEnvelopes builds the messages of cfg's token_mode and secret_token;
// call_timeout is the deadline of a call whose context has none. Only the
// keys it uses are checked: a Config with no broker will do.
func NewEnvelopes(cfg Config) (*Envelopes, error) {
	signer, err := cfg.TokenSigner()
	if err != nil {
		return nil, fmt.Errorf("servicebus: NewEnvelopes: %w", err)
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return &Envelopes{signer: signer, callTimeout: timeout}, nil
}

// CallMessage returns the message of an RPC call of target
// (NODE.CATEGORY.NAME) with params (encoded as JSON; a json.RawMessage is
// taken as it is), whose reply goes to the queue replyTo, and the topic to
// publish it to (the node). Its properties are a Sender's: reply_to,
// correlation_id and message_id (both the message UUID), expiration (the
// milliseconds left until the deadline) and timestamp, transient; the
// x-sb-deadline header carries the deadline, which is ctx's or now plus
// call_timeout, so the agent does not run the call once its caller gave up.
// The message's context is ctx.
func (e *Envelopes) CallMessage(ctx context.Context, target string, params any, replyTo string) (topic string, msg *message.Message, err error) {
	if replyTo == "" {
		return "", nil, fmt.Errorf("servicebus: call message to %s: empty replyTo: a call needs a queue for its reply (SendMessage builds a message without one)", target)
	}
	now := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now.Add(e.callTimeout)
	}
	left := deadline.Sub(now).Milliseconds()
	if left < 1 || ctx.Err() != nil {
		return "", nil, fmt.Errorf("servicebus: call message to %s: %w: deadline passed before publishing (%w)", target, ErrTimeout, context.DeadlineExceeded)
	}
	t, msg, err := e.build(ctx, "call", target, params, now)
	if err != nil {
		return "", nil, err
	}
	md := msg.Metadata
	md.Set(codec.MetaReplyTo, replyTo)
	md.Set(codec.MetaCorrelationID, msg.UUID)
	md.Set(codec.MetaExpiration, strconv.FormatInt(left, 10))
	md.Set(codec.MetaDeliveryMode, "1")
	md.Set(codec.HeaderDeadline, strconv.FormatInt(deadline.UnixMilli(), 10))
	return t.Node, msg, nil
}

// SendMessage returns the message of a send to the message service target
// (NODE.CATEGORY.NAME) with params, and the topic to publish it to (the
// node). As a Sender's, it is persistent, so a send a broker confirmed
// survives that broker's crash, and has no reply_to (the agent then treats
// it as a message, not a call), no correlation id and no deadline. The
// message's context is ctx.
func (e *Envelopes) SendMessage(ctx context.Context, target string, params any) (topic string, msg *message.Message, err error) {
	t, msg, err := e.build(ctx, "send", target, params, time.Now())
	if err != nil {
		return "", nil, err
	}
	msg.Metadata.Set(codec.MetaDeliveryMode, "2")
	return t.Node, msg, nil
}

// build is the part calls and sends share: the signed envelope, the message
// id and the timestamp.
func (e *Envelopes) build(ctx context.Context, what, target string, params any, now time.Time) (rpc.Target, *message.Message, error) {
	t, err := rpc.ParseTarget(target)
	if err != nil {
		return rpc.Target{}, nil, fmt.Errorf("servicebus: %s message: %w", what, err)
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return rpc.Target{}, nil, fmt.Errorf("servicebus: %s message to %s: encode params: %w", what, target, err)
	}
	id := watermill.NewUUID()
	ev := codec.Event{Version: "1", ID: id, Category: t.Category, Service: t.Name, Params: raw}
	headers, err := e.signer.Sign(&ev, now)
	if err != nil {
		return rpc.Target{}, nil, fmt.Errorf("servicebus: %s message to %s: sign: %w", what, target, err)
	}
	msg := message.NewMessage(id, codec.EncodeEvent(&ev))
	for k, v := range headers {
		msg.Metadata.Set(k, v)
	}
	msg.Metadata.Set(codec.MetaMessageID, id)
	msg.Metadata.Set(codec.MetaTimestamp, strconv.FormatInt(now.Unix(), 10))
	msg.SetContext(ctx)
	return t, msg, nil
}
