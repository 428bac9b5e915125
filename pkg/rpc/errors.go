package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// Errors a caller branches on with errors.Is.
var (
	// ErrTimeout means the call's deadline passed before a reply came. The
	// error also matches context.DeadlineExceeded. The agent may or may not
	// have run the call.
	ErrTimeout = errors.New("rpc: call timed out")
	// ErrNoRoute means no queue serves the target's node on any reachable
	// broker: the broker returned the mandatory publish. It comes back at
	// once, not after the timeout. Nothing was delivered. It wraps
	// failover.ErrNoRoute, so either matches with errors.Is.
	ErrNoRoute error = &wrapError{"rpc: no route (no queue serves the node on any reachable broker)", failover.ErrNoRoute}
	// ErrUnavailable means no broker confirmed the message before the
	// deadline. Usually nothing was delivered, but a publish whose confirm
	// was still outstanding (a blocked broker, a slow link) may yet be
	// delivered: retry only what may run twice.
	ErrUnavailable = failover.ErrUnavailable
	// ErrConnectionLost means the connection that a call's reply would come
	// back on died while the call waited. The call was delivered and may
	// have run; it is retryable only for idempotent services. It also
	// matches ErrUnavailable.
	ErrConnectionLost = fmt.Errorf("rpc: broker connection lost while waiting for the reply (%w)", ErrUnavailable)
	// ErrClosed means the sender was closed. It wraps broker.ErrClosed.
	ErrClosed = fmt.Errorf("rpc: sender closed: %w", broker.ErrClosed)
	// ErrBadTarget means a target is not NODE.CATEGORY.NAME.
	ErrBadTarget = errors.New("rpc: malformed target")
	// ErrNoReply is what Reply.Decode returns on a nil Reply: the call that
	// should have produced it failed, and its error says why.
	ErrNoReply = errors.New("rpc: no reply to decode (the call failed)")
)

// wrapError is a sentinel with a text of its own that matches the error it
// wraps: rpc.ErrNoRoute speaks of rpc yet is failover.ErrNoRoute too.
type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

// RemoteError is a failure the agent reported in its reply: the service
// raised an error, the service or token was refused, and so on. It is the
// remote side's answer, distinct from local failures such as ErrTimeout.
type RemoteError struct {
	Code    codec.ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return "rpc: remote error " + string(e.Code)
	}
	return "rpc: remote error " + string(e.Code) + ": " + e.Message
}

// Is matches another *RemoteError with the same code (or an empty code), so
// errors.Is(err, &RemoteError{Code: codec.CodeBadToken}) works.
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	if !ok {
		return false
	}
	return t.Code == "" || t.Code == e.Code
}

// timeoutError is ErrTimeout that also matches context.DeadlineExceeded.
type timeoutError struct{ detail string }

func (e *timeoutError) Error() string {
	if e.detail == "" {
		return ErrTimeout.Error()
	}
	return ErrTimeout.Error() + ": " + e.detail
}

func (e *timeoutError) Unwrap() []error { return []error{ErrTimeout, context.DeadlineExceeded} }

// IsRetryable reports whether err leaves the call safe to try again later as
// far as transport goes: no broker was reachable, or the connection was lost
// while waiting (for the latter, only if the service is idempotent).
// ErrNoRoute, ErrTimeout and remote errors are not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	// failover.ErrNoRoute also covers rpc.ErrNoRoute, which wraps it.
	if errors.Is(err, failover.ErrNoRoute) || errors.Is(err, ErrClosed) {
		return false
	}
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == codec.CodeUnavailable
	}
	return errors.Is(err, ErrUnavailable)
}

// callError maps a publish or wait failure to the package's errors.
func callError(ctx context.Context, target string, err error) error {
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
