package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// CallOption changes one call.
type CallOption func(*callOptions)

type callOptions struct {
	resend int
}

// WithResend lets a call be sent again, up to n more times, when the
// connection its reply would come back on dies while it waits
// (ErrConnectionLost). Only for idempotent services: the first attempt may
// have run.
func WithResend(n int) CallOption {
	return func(o *callOptions) { o.resend = n }
}

// applyCallOptions is what opts ask for. The options are applied to a copy
// made here only when there are some: one handed to an option escapes to
// the heap, a heap object on every call.
func applyCallOptions(opts []CallOption) callOptions {
	if len(opts) == 0 {
		return callOptions{}
	}
	o := new(callOptions)
	for _, opt := range opts {
		opt(o)
	}
	return *o
}

// Call calls target (NODE.CATEGORY.NAME) with params (encoded as JSON) and
// waits for the reply until ctx's deadline, or CallTimeout when ctx has none.
// A reply from the agent that reports a failure is a *RemoteError.
func (s *Sender) Call(ctx context.Context, target string, params any) (*Reply, error) {
	return s.CallWith(ctx, target, params)
}

// CallWith is Call with options.
func (s *Sender) CallWith(ctx context.Context, target string, params any, opts ...CallOption) (*Reply, error) {
	o := applyCallOptions(opts)
	t, raw, err := encode(target, params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	start := s.began(KindCall, t)
	for attempt := 0; ; attempt++ {
		reply, err := s.call(ctx, t, raw)
		if err != nil && errors.Is(err, ErrConnectionLost) && attempt < o.resend && ctx.Err() == nil {
			s.logger.Info("Call resent after connection loss", nil)
			continue
		}
		s.ended(KindCall, t, err, start)
		return reply, err
	}
}

// withDeadline bounds ctx by CallTimeout when it has no deadline. A ctx
// with one is used as it is: nothing a call, send or ping starts on it
// outlives it, so a cancel of our own would release nothing, and its
// context.WithCancel cost five heap objects a call.
func (s *Sender) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

func (s *Sender) call(ctx context.Context, t Target, params json.RawMessage) (*Reply, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	now := time.Now()
	ev, headers, err := s.signed("call", t, params, now, 1+tracing.Headers)
	if err != nil {
		return nil, err
	}
	ctx, span := s.tr.Start(ctx, "call", trace.SpanKindClient)
	defer span.End()
	msg, err := s.request(ctx, now, ev.ID, headers)
	if err != nil {
		tracing.Fail(span, err)
		return nil, err
	}
	msg.Body = codec.EncodeEvent(&ev)
	if span.IsRecording() {
		span.SetName(t.spanName("call "))
		tracing.Message{Op: tracing.OpSend, OpName: "call", Exchange: s.exchange, RoutingKey: t.Node,
			ID: ev.ID, ConversationID: ev.ID, BodySize: len(msg.Body)}.SetAttributes(span)
	}
	s.tr.Inject(ctx, msg.Headers)
	res, err := s.roundTrip(ctx, t.Node, ev.ID, msg, -1)
	if err != nil {
		err = s.explainTimeout(t.Node, callError(ctx, t.String(), err))
		if res.badReplies > 0 && errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w (replies to it ignored for want of a good signature: %d; does the agent have this sender's secret_token?)", err, res.badReplies)
		}
		tracing.Fail(span, err)
		return nil, err
	}
	s.tr.LinkReply(span, res.headers)
	reply, err := s.decodeReply(res)
	tracing.Fail(span, err)
	return reply, err
}

// encode checks target and encodes params as JSON, before anything of a
// call or send goes out.
func encode(target string, params any) (Target, json.RawMessage, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return Target{}, nil, err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return Target{}, nil, fmt.Errorf("rpc: encode params for %s: %w", target, err)
	}
	return t, raw, nil
}

// signed is the envelope of a call or send to t with a fresh id (also its
// correlation and message id), and the headers its token sets as an AMQP
// table with room for extra more.
func (s *Sender) signed(what string, t Target, params json.RawMessage, now time.Time, extra int) (codec.Event, amqp.Table, error) {
	ev := codec.Event{Version: "1", ID: s.newID(), Category: t.Category, Service: t.Name, Params: params}
	headers, err := s.cfg.Signer.Sign(&ev, now)
	if err != nil {
		return codec.Event{}, nil, fmt.Errorf("rpc: sign %s to %s: %w", what, t, err)
	}
	table := make(amqp.Table, len(headers)+extra)
	for k, v := range headers {
		table[k] = v
	}
	return ev, table, nil
}

// request builds the properties of a call or ping: correlation id,
// expiration and deadline header from ctx, transient. headers may be nil.
func (s *Sender) request(ctx context.Context, now time.Time, id string, headers amqp.Table) (amqp.Publishing, error) {
	deadline, _ := ctx.Deadline()
	left := deadline.Sub(now).Milliseconds()
	if left < 1 || ctx.Err() != nil {
		return amqp.Publishing{}, &timeoutError{detail: "deadline passed before sending"}
	}
	if headers == nil {
		headers = make(amqp.Table, 1)
	}
	headers[codec.HeaderDeadline] = strconv.FormatInt(deadline.UnixMilli(), 10)
	return amqp.Publishing{
		Headers:       headers,
		DeliveryMode:  amqp.Transient,
		CorrelationId: id,
		MessageId:     id,
		Expiration:    strconv.FormatInt(left, 10),
		Timestamp:     now,
	}, nil
}

// roundTrip publishes msg (reply_to set per path) and waits for the reply.
// path < 0 means any path with failover, else only that path.
func (s *Sender) roundTrip(ctx context.Context, node, id string, msg amqp.Publishing, path int) (result, error) {
	c := &call{id: id, done: make(chan struct{})}
	s.calls.add(c)
	// At most once: a request that went out and whose fate is unknown is
	// not sent again on another broker, since the service could run twice
	// (WithResend asks for that).
	_, err := s.pub.PublishWith(ctx, s.exchange, node, msg, publish.Options{Prepare: s.prepare(c), Path: path, AtMostOnce: true})
	if err != nil {
		if s.calls.remove(c) {
			return result{}, requestError(ctx, err)
		}
		// A reply or a failure raced the publish error; take it.
		<-c.done
		return c.res, c.res.err
	}
	c.sent.Store(true)
	if !s.stillUp(c.where.Load()) && s.calls.remove(c) {
		return result{}, fmt.Errorf("%w: connection closed right after the publish", ErrConnectionLost)
	}
	select {
	case <-c.done:
		return c.res, c.res.err
	case <-ctx.Done():
		if s.calls.remove(c) {
			return result{badReplies: c.badReplies.Load()}, ctx.Err()
		}
		<-c.done
		return c.res, c.res.err
	}
}

// requestError says what a failed request publish means for its call: a
// request that may have been delivered is a call whose reply can no longer
// come (its connection is gone: ErrConnectionLost) or whose deadline passed
// (ErrTimeout); the others say nothing was delivered.
func requestError(ctx context.Context, err error) error {
	if !errors.Is(err, failover.ErrMaybeDelivered) {
		return err
	}
	if ctx.Err() != nil {
		// As any call that timed out, it may have been delivered.
		return &timeoutError{detail: "the request was not confirmed by the deadline"}
	}
	if errors.Is(err, failover.ErrPathLost) || errors.Is(err, failover.ErrConfirmTimeout) {
		return fmt.Errorf("%w (the request went out: %w)", ErrConnectionLost, err)
	}
	return err
}
