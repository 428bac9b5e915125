package rpc

import (
	"context"
	"errors"
	"time"

	"github.com/go-servicebus/servicebus/pkg/failover"
)

// Kinds of request an Observer learns of.
const (
	KindCall = "call"
	KindSend = "send"
	KindPing = "ping"
)

// Outcomes of a call, send or ping as an Observer learns them: the values
// of the outcome label of the servicebus_sender_* metrics.
const (
	OutcomeOK          = "ok"           // a reply (call), a confirm (send), a PONG (ping)
	OutcomeRemoteError = "remote_error" // the agent answered with an error (*RemoteError)
	OutcomeTimeout     = "timeout"      // the deadline passed, or the caller gave up
	OutcomeNoRoute     = "no_route"     // no queue serves the node
	OutcomeUnavailable = "unavailable"  // no broker took it, the connection was lost, or the sender closed
)

// Observer learns what a Sender does, for metrics (pkg/metrics implements
// it). Its methods run on the caller's goroutine (Attempted on the
// publishing one, Probed on a connection's) and must not block. A nil
// Observer in Config observes nothing and costs nothing.
type Observer interface {
	// Began learns that a call, send or ping (kind) of t started; a ping's
	// t has only its Node.
	Began(kind string, t Target)
	// Ended learns how it ended (an Outcome* constant), with err the error
	// returned to the caller, and how long it took.
	Ended(kind string, t Target, outcome string, err error, took time.Duration)
	// Attempted learns the outcome of one publish attempt on broker: one
	// of confirmed, nacked, returned, timeout, blocked, unavailable.
	Attempted(broker, outcome string, took time.Duration)
	// Probed learns a health probe of broker: its round trip and error.
	Probed(broker string, took time.Duration, err error)
}

// OutcomeOf names the outcome of a call, send or ping that returned err.
func OutcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case isRemote(err):
		return OutcomeRemoteError
	case errors.Is(err, failover.ErrNoRoute):
		return OutcomeNoRoute
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return OutcomeTimeout
	}
	return OutcomeUnavailable
}

// isRemote is apart from OutcomeOf so that the target of errors.As
// escapes to the heap only for a failed call, not for every one.
func isRemote(err error) bool {
	var remote *RemoteError
	return errors.As(err, &remote)
}

// began tells the Observer that a request of kind to t began and returns
// its start; ended tells it the end. Without an Observer they do nothing.
func (s *Sender) began(kind string, t Target) time.Time {
	if s.cfg.Observer == nil {
		return time.Time{}
	}
	s.cfg.Observer.Began(kind, t)
	return time.Now()
}

func (s *Sender) ended(kind string, t Target, err error, start time.Time) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.Ended(kind, t, OutcomeOf(err), err, time.Since(start))
	}
}
