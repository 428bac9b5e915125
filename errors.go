package servicebus

import (
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// Errors of calls, sends and pings, for errors.Is. They are the errors of
// pkg/rpc and pkg/failover under the names of the front door: an error
// matches either name.
var (
	// ErrTimeout means the call's deadline passed before a reply came (it
	// also matches context.DeadlineExceeded); the agent may or may not have
	// run it. Its text says what the node's queue shows.
	ErrTimeout = rpc.ErrTimeout
	// ErrNoRoute means no queue serves the target's node on any reachable
	// broker. It comes back at once; nothing was delivered.
	ErrNoRoute = rpc.ErrNoRoute
	// ErrUnavailable means no broker confirmed the call or message before
	// the deadline, or the connection a call's reply would come back on died
	// (ErrConnectionLost). It is retryable (IsRetryable); nothing was
	// delivered unless the error also matches ErrMaybeDelivered.
	ErrUnavailable = rpc.ErrUnavailable
	// ErrMaybeDelivered comes with ErrUnavailable when an attempt went out
	// and its outcome is unknown: a retry may deliver the message twice.
	ErrMaybeDelivered = failover.ErrMaybeDelivered
	// ErrConnectionLost means the connection a call's reply would come back
	// on died while the call waited; the call may have run. It matches
	// ErrUnavailable.
	ErrConnectionLost = rpc.ErrConnectionLost
	// ErrBadTarget means a target is not NODE.CATEGORY.NAME; nothing was sent.
	ErrBadTarget = rpc.ErrBadTarget
	// ErrNoReply is what Reply.Decode returns on the nil Reply of a failed
	// call.
	ErrNoReply = rpc.ErrNoReply
	// ErrTooLarge means a message does not fit what the broker takes; it was
	// refused before it was written.
	ErrTooLarge = broker.ErrTooLarge
	// ErrRefused means every broker refused the connection or its set-up in
	// a way that retrying does not heal: the user or password (403), the
	// vhost (530), a TLS certificate that fails verification, a topology
	// that does not match the broker's (406). It comes at once, not at the
	// deadline; nothing was delivered, and it is not retryable. The error
	// names each broker and its cause (a *broker.RefusedError).
	ErrRefused = broker.ErrRefused
	// ErrClosed means the sender or agent was closed. Every package's
	// ErrClosed (rpc.ErrClosed, router.ErrClosed, failover.ErrClosed) matches
	// it.
	ErrClosed = broker.ErrClosed
)

// RemoteError is a failure the remote service answered with: its Code says
// which (CodeServiceError, CodeBadToken, CodeUnknownService, ...).
type RemoteError = rpc.RemoteError

// IsRetryable reports whether a failed call or send may be tried again as
// far as transport goes: no broker took it, or the connection was lost
// while waiting (then only for an idempotent service). ErrNoRoute,
// ErrTimeout and remote errors other than CodeUnavailable are not.
func IsRetryable(err error) bool { return rpc.IsRetryable(err) }

// ErrorCode names the kind of failure in an error reply; a RemoteError
// carries it, a service chooses it with NewError.
type ErrorCode = codec.ErrorCode

// The error codes of replies.
const (
	// CodeUnknownService: the node has no service of that name.
	CodeUnknownService = codec.CodeUnknownService
	// CodeBadToken: the agent refused the call's token.
	CodeBadToken = codec.CodeBadToken
	// CodeBadRequest: the call's body or params could not be decoded.
	CodeBadRequest = codec.CodeBadRequest
	// CodeServiceError: the service returned an error (the default code).
	CodeServiceError = codec.CodeServiceError
	// CodePanic: the service panicked.
	CodePanic = codec.CodePanic
	// CodeDeadlineExceeded: the call's deadline passed before or while the
	// service ran.
	CodeDeadlineExceeded = codec.CodeDeadlineExceeded
	// CodeUnavailable: the agent is shutting down; try again.
	CodeUnavailable = codec.CodeUnavailable
)

// Error is the failure a service returns to answer with a code of its
// choice; any other error answers CodeServiceError with its text.
type Error = router.Error

// NewError is an *Error with code and message, for a service to return.
func NewError(code ErrorCode, message string) *Error { return router.NewError(code, message) }

// Errorf is an *Error with code and a formatted message; a %w verb keeps the
// wrapped error as the cause (not sent to the caller).
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return router.Errorf(code, format, args...)
}

// Permanent marks the error of a message service as one no retry can fix:
// the message is rejected (dead-lettered) at once instead of retried.
func Permanent(err error) error { return router.Permanent(err) }

// IsPermanent reports whether err was marked Permanent or is an *Error whose
// code no retry can change (a bad request, a bad token, ...).
func IsPermanent(err error) bool { return router.IsPermanent(err) }
