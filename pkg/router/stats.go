package router

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Stats counts what an agent did since it was made. Every field but
// InFlight and Consuming only grows.
type Stats struct {
	Received         uint64 // deliveries handed to the middleware
	Replies          uint64 // RPC replies published (results, errors, PONGs)
	Pongs            uint64 // PING requests answered
	Acked            uint64 // deliveries acked
	Rejected         uint64 // deliveries rejected without requeue (dead-lettered where a DLX exists)
	Requeued         uint64 // deliveries given back to the broker (shutdown, failed reply)
	Malformed        uint64 // bodies that did not decode
	TooLarge         uint64 // bodies over Codec.MaxBodySize
	BadToken         uint64 // calls whose credentials did not validate
	UnknownService   uint64 // calls of services the node does not have
	DeadlineExceeded uint64 // calls not run because their deadline had passed
	ServiceErrors    uint64 // services that returned an error (after retries)
	Panics           uint64 // services that panicked
	ReplyFailures    uint64 // replies that could not be published
	Unreadable       uint64 // deliveries no Go client can parse, taken off the queue (see unreadable.go)
	Poisoned         uint64 // deliveries rejected unrun: publishing their reply closed the connection twice (poison.go)
	Redelivered      uint64 // deliveries the broker marked redelivered (an earlier attempt may have run)
	InFlight         int    // deliveries being worked on now
	Consuming        int    // brokers whose node queue is consumed now
}

type counters struct {
	received, replies, pongs, acked, rejected, requeued atomic.Uint64
	malformed, tooLarge, badToken, unknown, deadline    atomic.Uint64
	serviceErrors, panics, replyFailures, unreadable    atomic.Uint64
	poisoned, redelivered                               atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:         c.received.Load(),
		Replies:          c.replies.Load(),
		Pongs:            c.pongs.Load(),
		Acked:            c.acked.Load(),
		Rejected:         c.rejected.Load(),
		Requeued:         c.requeued.Load(),
		Malformed:        c.malformed.Load(),
		TooLarge:         c.tooLarge.Load(),
		BadToken:         c.badToken.Load(),
		UnknownService:   c.unknown.Load(),
		DeadlineExceeded: c.deadline.Load(),
		ServiceErrors:    c.serviceErrors.Load(),
		Panics:           c.panics.Load(),
		ReplyFailures:    c.replyFailures.Load(),
		Unreadable:       c.unreadable.Load(),
		Poisoned:         c.poisoned.Load(),
		Redelivered:      c.redelivered.Load(),
	}
}

// observe is the agent's Observer: it counts every outcome (Stats), logs
// the rejections of bad input (rate-limited: ratelog.go, internal/ratelog),
// and marks a call answered for bad input to be rejected after its reply,
// not acked.
func (a *Agent) observe(msg *message.Message, o Outcome, err error) {
	dl := deliveryFrom(msg)
	rpc := dl != nil && dl.ReplyTo != ""
	switch o {
	case OutcomePong:
		a.stats.pongs.Add(1)
	case OutcomeMalformed, OutcomeTooLarge:
		if o == OutcomeTooLarge {
			a.stats.tooLarge.Add(1)
		} else {
			a.stats.malformed.Add(1)
		}
		f := watermill.LogFields{"bytes": len(msg.Payload), "rpc": rpc}
		if dl != nil {
			// An RPC is answered, and still kept out of the queue like any
			// bad input: rejected after the reply (dead-lettered with a DLX).
			dl.reject.Store(true)
			f["broker"], f["redelivered"] = dl.pc.broker, dl.Redelivered
		}
		a.logRejection("undecodable", "Undecodable delivery", errors.New(clipLog(err.Error())), f)
	case OutcomeBadToken:
		a.stats.badToken.Add(1)
		if dl != nil {
			dl.reject.Store(true)
		}
		a.logRejection("token", "Token not valid", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
	case OutcomeDeadlineExceeded:
		a.stats.deadline.Add(1)
		var late time.Duration
		if req, ok := RequestFromContext(msg.Context()); ok {
			late = time.Since(req.Meta.Deadline)
		}
		a.logRejection("deadline", "Deadline passed, not run", nil, a.fields(msg, watermill.LogFields{"late": late}))
	case OutcomeUnknownService:
		a.stats.unknown.Add(1)
		if rpc {
			a.logRejection("unknown_service", "Unknown RPC service", nil, a.fields(msg, nil))
		}
	case OutcomePanic:
		a.stats.panics.Add(1)
		var stack []byte
		var p *PanicError
		if errors.As(err, &p) {
			stack = p.Stack
		}
		a.logRejection("panic", "Service panicked", errors.New(clipLog(err.Error())), a.fields(msg, watermill.LogFields{"stack": string(stack)}))
	case OutcomeFailed:
		a.observeFailure(msg, rpc, err)
	}
}

// observeFailure counts and logs an error that a service (or middleware)
// returned: for an RPC only service errors (the others were counted where
// they arose), for a message every rejection.
func (a *Agent) observeFailure(msg *message.Message, rpc bool, err error) {
	if rpc {
		if asError(err).Code == codec.CodeServiceError {
			a.stats.serviceErrors.Add(1)
			a.logRejection("service_error", "RPC service failed", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Code == codec.CodeServiceError {
		a.stats.serviceErrors.Add(1)
	}
	a.logRejection("message_rejected", "Message rejected", nil, a.fields(msg, watermill.LogFields{"err": clipLog(err.Error())}))
}

// fields are the log fields of a message: its broker and kind, and the
// request's id and service once decoded.
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
