package router

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// answer is the outermost middleware of RPCs: a panic or an error anywhere
// below becomes an error reply, so every call is answered.
func (a *Agent) answer(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				out, err = []*message.Message{a.failureReply(msg, a.panicked(msg, r))}, nil
			}
		}()
		out, err = h(msg)
		if err == nil {
			return out, nil
		}
		if a.aborted.Load() && errors.Is(err, context.Canceled) {
			// Shutdown cut the work short: give the call back to the broker
			// so that another agent (or this one, restarted) answers it.
			if dl := deliveryFrom(msg); dl != nil {
				dl.requeue.Store(true)
			}
			return nil, err
		}
		return []*message.Message{a.failureReply(msg, err)}, nil
	}
}

func (a *Agent) failureReply(msg *message.Message, err error) *message.Message {
	e := asError(err)
	id := ""
	if req, ok := RequestFromContext(msg.Context()); ok {
		id = req.ID
	}
	if e.Code == codec.CodeServiceError {
		a.stats.serviceErrors.Add(1)
		a.logRejection("service_error", "RPC service failed", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
	}
	return errorReply(msg, id, e)
}

// recoverMessage is the outermost middleware of messages: a panic becomes
// an error (the message is rejected, not redelivered forever).
func (a *Agent) recoverMessage(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, a.panicked(msg, r)
			}
		}()
		out, err = h(msg)
		if err != nil && !a.aborted.Load() {
			var e *Error
			if !errors.As(err, &e) || e.Code == codec.CodeServiceError {
				a.stats.serviceErrors.Add(1)
			}
			a.logRejection("message_rejected", "Message rejected", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
		}
		return out, err
	}
}

func (a *Agent) panicked(msg *message.Message, r any) *Error {
	a.stats.panics.Add(1)
	a.logRejection("panic", "Service panicked", errors.New(clipLog(fmt.Sprintf("panic: %v", r))), a.fields(msg, watermill.LogFields{"stack": string(debug.Stack())}))
	return &Error{Code: codec.CodePanic, Message: fmt.Sprintf("panic: %v", r)}
}

// decode answers PING, parses the envelope and puts the Request into the
// message's context.
func (a *Agent) decode(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		dl := deliveryFrom(msg)
		if dl == nil {
			return nil, Permanent(errors.New("router: message without delivery"))
		}
		if dl.ReplyTo != "" && codec.IsPing(msg.Payload) {
			a.stats.pongs.Add(1)
			return []*message.Message{pongReply(msg)}, nil
		}
		ev, err := codec.DecodeEvent(msg.Payload, a.cfg.Codec)
		if err != nil {
			if errors.Is(err, codec.ErrTooLarge) {
				a.stats.tooLarge.Add(1)
			} else {
				a.stats.malformed.Add(1)
			}
			// An RPC is answered, and still kept out of the queue like any
			// bad input: rejected after the reply (dead-lettered with a DLX).
			dl.reject.Store(true)
			a.logRejection("undecodable", "Undecodable delivery", errors.New(clipLog(err.Error())), watermill.LogFields{
				"broker": dl.pc.broker, "bytes": len(msg.Payload), "rpc": dl.ReplyTo != "", "redelivered": dl.Redelivered,
			})
			return nil, &Error{Code: codec.CodeBadRequest, Message: err.Error(), Err: err}
		}
		req := &Request{
			ID:       ev.ID,
			Category: ev.Category,
			Service:  ev.Service,
			Token:    ev.Token,
			Params:   ev.Params,
			Meta: Metadata{
				Broker:        dl.pc.broker,
				Redelivered:   dl.Redelivered,
				ReplyTo:       dl.ReplyTo,
				CorrelationID: dl.CorrelationId,
				Deadline:      deadlineOf(dl, msg.Metadata),
				Headers:       msg.Metadata,
			},
			caller: a.cfg.Caller,
			event:  ev,
		}
		msg.SetContext(context.WithValue(msg.Context(), requestKey{}, req))
		return h(msg)
	}
}

// deadlineOf reads the sender's deadline: the x-sb-deadline header, else the
// AMQP timestamp plus expiration. The timestamp has whole seconds only, so
// a second is added rather than refusing calls that still have time.
func deadlineOf(dl *delivery, headers map[string]string) time.Time {
	if v := headers[codec.HeaderDeadline]; v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			return time.UnixMilli(ms)
		}
	}
	if dl.Expiration != "" && !dl.Timestamp.IsZero() {
		if ms, err := strconv.ParseInt(dl.Expiration, 10, 64); err == nil && ms >= 0 {
			return dl.Timestamp.Add(time.Duration(ms)*time.Millisecond + time.Second)
		}
	}
	return time.Time{}
}

// checkToken validates the call's credentials.
func (a *Agent) checkToken(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		req := mustRequest(msg)
		if err := a.cfg.Tokens.Validate(msg.Context(), &req.event, msg.Metadata, time.Now()); err != nil {
			a.stats.badToken.Add(1)
			deliveryFrom(msg).reject.Store(true)
			a.logRejection("token", "Token not valid", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
			return nil, &Error{Code: codec.CodeBadToken, Message: codec.TextTokenNotValid, Err: err}
		}
		return h(msg)
	}
}

// checkDeadline refuses work whose caller has given up and hands the
// deadline to the service's context.
func (a *Agent) checkDeadline(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		req := mustRequest(msg)
		deadline := req.Meta.Deadline
		if deadline.IsZero() {
			return h(msg)
		}
		if late := time.Since(deadline); late >= 0 {
			a.stats.deadline.Add(1)
			a.logRejection("deadline", "Deadline passed, not run", nil, a.fields(msg, watermill.LogFields{"late": late}))
			return nil, &Error{Code: codec.CodeDeadlineExceeded, Message: fmt.Sprintf("deadline of %s passed %s before it was run", req.Target(), late.Round(time.Millisecond))}
		}
		ctx, cancel := context.WithDeadline(msg.Context(), deadline)
		defer cancel()
		msg.SetContext(ctx)
		return h(msg)
	}
}

// dispatchRPC is the RPC handler: it runs the service and returns its reply.
func (a *Agent) dispatchRPC(msg *message.Message) ([]*message.Message, error) {
	req := mustRequest(msg)
	svc := a.services.rpcService(req.Category, req.Service)
	if svc == nil {
		a.stats.unknown.Add(1)
		a.logRejection("unknown_service", "Unknown RPC service", nil, a.fields(msg, nil))
		return nil, &Error{Code: codec.CodeUnknownService, Message: codec.UnknownServiceText(req.Category, req.Service)}
	}
	result, err := svc(msg.Context(), req)
	if err != nil {
		return nil, err
	}
	reply, err := resultReply(msg, req.ID, result)
	if err != nil {
		return nil, &Error{Code: codec.CodeServiceError, Message: fmt.Sprintf("%s: %v", req.Target(), err), Err: err}
	}
	return []*message.Message{reply}, nil
}

// dispatchMessage is the message handler: nil acks, an error rejects.
func (a *Agent) dispatchMessage(msg *message.Message) error {
	req := mustRequest(msg)
	svc := a.services.messageService(req.Category, req.Service)
	if svc == nil {
		a.stats.unknown.Add(1)
		return &Error{Code: codec.CodeUnknownService, Message: codec.UnknownServiceText(req.Category, req.Service)}
	}
	return svc(msg.Context(), req)
}

func (a *Agent) retryMiddleware() message.HandlerMiddleware {
	return middleware.Retry{
		MaxRetries:          a.cfg.MessageRetry.MaxRetries,
		InitialInterval:     a.cfg.MessageRetry.InitialInterval,
		MaxInterval:         a.cfg.MessageRetry.MaxInterval,
		Multiplier:          2,
		RandomizationFactor: 0.5,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !IsPermanent(p.Err) },
		Logger:              a.logger,
	}.Middleware
}

func mustRequest(msg *message.Message) *Request {
	req, ok := RequestFromContext(msg.Context())
	if !ok {
		panic("router: no request in the message context; the decode middleware did not run")
	}
	return req
}

func (a *Agent) fields(msg *message.Message, extra watermill.LogFields) watermill.LogFields {
	f := watermill.LogFields{}
	if dl := deliveryFrom(msg); dl != nil {
		f["broker"] = dl.pc.broker
		f["rpc"] = dl.ReplyTo != ""
	}
	if req, ok := RequestFromContext(msg.Context()); ok {
		// From the request: bounded, as all that is logged of it.
		f["event_id"] = clipLog(req.ID)
		f["service"] = clipLog(req.Target())
	}
	return f.Add(extra)
}
