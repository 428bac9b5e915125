package failover

import (
	"errors"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// Outcome errors of a publish. Callers branch on them with errors.Is. They
// are the errors of the publishing engine (internal/publish), which pkg/rpc
// shares, so errors.Is matches them whichever layer returned them.
var (
	// ErrNoRoute means nothing was delivered: every broker tried returned
	// the mandatory publish (no queue is bound for its routing key; for a
	// call: no agent ever served that node there), and none may hold it. It
	// comes back as soon as the returns arrive.
	ErrNoRoute = publish.ErrNoRoute
	// ErrUnavailable means no broker confirmed the publish before its
	// deadline. It is retryable. Nothing was delivered unless the error
	// also matches ErrMaybeDelivered.
	ErrUnavailable = publish.ErrUnavailable
	// ErrClosed means the publisher was closed. It wraps broker.ErrClosed.
	ErrClosed = publish.ErrClosed
	// ErrNacked means a broker refused a publish (basic.nack): a queue at its
	// length limit with reject-publish, a quorum queue without a leader. The
	// publisher tries the next path, and the refusing ones again after a
	// backoff (RetryBackoff), until the deadline; then the error matches
	// ErrUnavailable and ErrNacked. Nothing was stored.
	ErrNacked = publish.ErrNacked
	// ErrMaybeDelivered comes with ErrUnavailable when an attempt went out
	// and its outcome is unknown (no confirm by the deadline or the confirm
	// timeout, the connection lost or blocked before the confirm): a broker
	// may deliver the message, so a retry may make a duplicate.
	ErrMaybeDelivered = publish.ErrMaybeDelivered
	// ErrConfirmTimeout means no confirm came within ConfirmTimeout; the path
	// is killed as broken and the publish moved to the next path.
	ErrConfirmTimeout = publish.ErrConfirmTimeout
	// ErrPathLost means the connection a publish went out on died before its
	// confirm came.
	ErrPathLost = publish.ErrPathLost
	// ErrBlocked means the broker blocked publishers (a memory or disk
	// alarm) while a publish waited there; the publish moves on. The message
	// may still be delivered by that broker once the alarm clears.
	ErrBlocked = publish.ErrBlocked
	// ErrRefused means every broker refused in a way that retrying does
	// not heal: wrong user or password (403), a vhost that does not exist
	// (530), a TLS certificate that failed verification, a topology that
	// does not match the broker's (406 at set-up). The publish fails at
	// once with it, not at its deadline; nothing was delivered. The error
	// wraps each broker's *broker.RefusedError, which names the cause. It
	// is broker.ErrRefused.
	ErrRefused = publish.ErrRefused
	// ErrTooLarge means a message cannot be published as it is: its
	// properties and headers do not fit one frame of the broker's
	// connection, or its body is over MaxMessageSize. It is refused before
	// it is written, and no other broker is tried.
	ErrTooLarge = broker.ErrTooLarge
)

// Errors of the Wrapper, besides ErrClosed. Callers branch on them with
// errors.Is.
var (
	// ErrNotPublished means no wrapped publisher took a message: each one
	// failed, hung, or was skipped. The error that wraps it names every
	// publisher and its failure.
	ErrNotPublished = errors.New("failover: no publisher took the message")
	// ErrAttemptTimeout means a wrapped publisher did not return within
	// AttemptTimeout. It may still publish the message later, so a message
	// that then went out on another publisher can arrive twice.
	ErrAttemptTimeout = errors.New("failover: publisher did not answer within the attempt timeout")
)
