package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

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

// Call calls target (NODE.CATEGORY.NAME) with params (encoded as JSON) and
// waits for the reply until ctx's deadline, or CallTimeout when ctx has none.
// A reply from the agent that reports a failure is a *RemoteError.
func (s *Sender) Call(ctx context.Context, target string, params any) (*Reply, error) {
	return s.CallWith(ctx, target, params)
}

// CallWith is Call with options.
func (s *Sender) CallWith(ctx context.Context, target string, params any, opts ...CallOption) (*Reply, error) {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	t, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("rpc: encode params for %s: %w", target, err)
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	for attempt := 0; ; attempt++ {
		reply, err := s.call(ctx, t, raw)
		if err != nil && errors.Is(err, ErrConnectionLost) && attempt < o.resend && ctx.Err() == nil {
			s.logger.Info("Call resent after connection loss", nil)
			continue
		}
		return reply, err
	}
}

func (s *Sender) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

func (s *Sender) call(ctx context.Context, t Target, params json.RawMessage) (*Reply, error) {
	if s.closed() {
		return nil, ErrClosed
	}
	now := time.Now()
	id := s.newID()
	ev := codec.Event{Version: "1", ID: id, Category: t.Category, Service: t.Name, Params: params}
	headers, err := s.cfg.Signer.Sign(&ev, now)
	if err != nil {
		return nil, fmt.Errorf("rpc: sign call to %s: %w", t, err)
	}
	msg, err := s.request(ctx, now, id, headers)
	if err != nil {
		return nil, err
	}
	msg.Body = codec.EncodeEvent(&ev)
	res, err := s.roundTrip(ctx, t.Node, id, msg, -1)
	if err != nil {
		return nil, s.explainTimeout(t.Node, s.callError(ctx, t.String(), err))
	}
	return s.decodeReply(res)
}

// request builds the properties of a call or ping: correlation id,
// expiration and deadline header from ctx, transient.
func (s *Sender) request(ctx context.Context, now time.Time, id string, headers map[string]string) (amqp.Publishing, error) {
	deadline, _ := ctx.Deadline()
	left := deadline.Sub(now).Milliseconds()
	if left < 1 || ctx.Err() != nil {
		return amqp.Publishing{}, &timeoutError{detail: "deadline passed before sending"}
	}
	table := make(amqp.Table, len(headers)+1)
	for k, v := range headers {
		table[k] = v
	}
	table[codec.HeaderDeadline] = strconv.FormatInt(deadline.UnixMilli(), 10)
	return amqp.Publishing{
		Headers:       table,
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
	c := &call{id: id, done: make(chan result, 1)}
	s.calls.add(c)
	var err error
	if path < 0 {
		_, err = s.pub.PublishPrepared(ctx, s.exchange, node, msg, s.prepare(c))
	} else {
		_, err = s.pub.PublishOnPath(ctx, path, s.exchange, node, msg, s.prepare(c))
	}
	if err != nil {
		if s.calls.remove(c) {
			return result{}, err
		}
		// A reply or a failure raced the publish error; take it.
		r := <-c.done
		return r, r.err
	}
	c.sent.Store(true)
	if !s.stillUp(c.where.Load()) && s.calls.remove(c) {
		return result{}, fmt.Errorf("%w: connection closed right after the publish", ErrConnectionLost)
	}
	select {
	case r := <-c.done:
		return r, r.err
	case <-ctx.Done():
		if s.calls.remove(c) {
			return result{}, ctx.Err()
		}
		r := <-c.done
		return r, r.err
	}
}

// callError maps a publish or wait failure to the package's errors.
func (s *Sender) callError(ctx context.Context, target string, err error) error {
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, ErrClosed):
		return err
	case errors.Is(err, failover.ErrClosed):
		return ErrClosed
	case errors.Is(err, failover.ErrNoRoute):
		return fmt.Errorf("%w: %s", ErrNoRoute, target)
	case errors.Is(err, ErrUnavailable):
		// ErrConnectionLost, or no broker took the message before the deadline.
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return &timeoutError{detail: target}
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("rpc: call %s: %w", target, context.Cause(ctx))
	}
	return fmt.Errorf("rpc: call %s: %w", target, err)
}

// decodeReply turns a reply delivery into a Reply or a *RemoteError.
func (s *Sender) decodeReply(r result) (*Reply, error) {
	if code := headerString(r.headers, codec.HeaderErrorCode); code != "" {
		msg := headerString(r.headers, codec.HeaderErrorMessage)
		if msg == "" {
			if resp, err := codec.DecodeResponse(r.body, s.cfg.Codec); err == nil {
				msg = resp.Message
			}
		}
		return nil, &RemoteError{Code: codec.ErrorCode(code), Message: msg}
	}
	resp, err := codec.DecodeResponse(r.body, s.cfg.Codec)
	if err != nil {
		return nil, fmt.Errorf("rpc: undecodable reply: %w", err)
	}
	// A py-servicebus agent reports failures as plain texts.
	switch {
	case resp.Message == codec.TextTokenNotValid:
		return nil, &RemoteError{Code: codec.CodeBadToken, Message: resp.Message}
	case strings.HasPrefix(resp.Message, unknownServicePrefix):
		return nil, &RemoteError{Code: codec.CodeUnknownService, Message: resp.Message}
	}
	return &Reply{ID: resp.ID, Raw: resp.Message}, nil
}

var unknownServicePrefix = strings.TrimSuffix(codec.UnknownServiceText("", ""), ".")

func headerString(h amqp.Table, key string) string {
	v, ok := h[key]
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// Send publishes a message to target's message service: persistent,
// mandatory, and confirmed by a broker before it returns, failing over to
// the next broker on a nack, a dead connection or a confirm timeout.
func (s *Sender) Send(ctx context.Context, target string, params any) error {
	t, err := ParseTarget(target)
	if err != nil {
		return err
	}
	if s.closed() {
		return ErrClosed
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("rpc: encode params for %s: %w", target, err)
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	now := time.Now()
	id := s.newID()
	ev := codec.Event{Version: "1", ID: id, Category: t.Category, Service: t.Name, Params: raw}
	headers, err := s.cfg.Signer.Sign(&ev, now)
	if err != nil {
		return fmt.Errorf("rpc: sign message to %s: %w", target, err)
	}
	table := make(amqp.Table, len(headers))
	for k, v := range headers {
		table[k] = v
	}
	msg := amqp.Publishing{
		Headers:      table,
		DeliveryMode: amqp.Persistent,
		MessageId:    id,
		Timestamp:    now,
		Body:         codec.EncodeEvent(&ev),
	}
	if _, err := s.pub.PublishAMQP(ctx, s.exchange, t.Node, msg); err != nil {
		return s.callError(ctx, target, err)
	}
	return nil
}
