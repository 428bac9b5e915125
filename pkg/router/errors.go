package router

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

// ErrClosed is returned by Start on an agent that was closed. It wraps
// broker.ErrClosed.
var ErrClosed = fmt.Errorf("router: agent closed: %w", broker.ErrClosed)

// ErrStarted is returned by Start on an agent that already runs.
var ErrStarted = errors.New("router: agent already started")

// ErrDrainTimeout is the cause (context.Cause) of the context of work that
// Close cancelled because it outlasted DrainTimeout. Answer does not answer
// such work and Recover does not count it as failed: the agent gives the
// delivery back to the broker, so another agent (or this one, restarted)
// runs it.
var ErrDrainTimeout = errors.New("router: drain timed out; work given back to the broker")

// errNoRequest is what a middleware that needs the request returns when
// Decode did not run before it.
var errNoRequest = Permanent(errors.New("router: no request in the message context: Decode must run before"))

// Error is a failure with a code that an RPC caller receives: the reply body
// carries Message (the text a py-servicebus caller reads), the headers
// x-sb-error-code and x-sb-error-message carry Code and Message for our own
// sender. A service returns one to choose the code; any other error becomes
// CodeServiceError with the error's text.
type Error struct {
	Code    codec.ErrorCode
	Message string
	Err     error // the cause, not sent to the caller
}

// NewError returns an *Error with the given code and text.
func NewError(code codec.ErrorCode, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an *Error with the given code and formatted text; a %w verb
// keeps the wrapped error as the cause.
func Errorf(code codec.ErrorCode, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

func (e *Error) Error() string {
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// PanicError is the cause of the *Error (codec.CodePanic) that Answer and
// Recover make of a panic: the value the service panicked with and the
// stack where it did.
type PanicError struct {
	Value any
	Stack []byte
}

func newPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }

func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// asError is the *Error a caller gets: code panic, the panic's text.
func (p *PanicError) asError() *Error {
	return &Error{Code: codec.CodePanic, Message: p.Error(), Err: p}
}

// permanent reports whether retrying cannot help: a bad request, a bad token,
// an unknown service or a passed deadline fail the same way every time.
func (e *Error) permanent() bool {
	switch e.Code {
	case codec.CodeBadRequest, codec.CodeBadToken, codec.CodeUnknownService, codec.CodeDeadlineExceeded, codec.CodePanic:
		return true
	}
	return false
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as one that a retry cannot fix: the message retry
// middleware gives up at once and the message is rejected (dead-lettered).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent or is an *Error
// whose code no retry can change.
func IsPermanent(err error) bool {
	var p permanentError
	if errors.As(err, &p) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && e.permanent()
}

// asError turns any error into the *Error that is sent to an RPC caller: a
// service that ran out of its context's time (the caller's deadline, a
// Timeout middleware) reports CodeDeadlineExceeded.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code := codec.CodeServiceError
	if errors.Is(err, context.DeadlineExceeded) {
		code = codec.CodeDeadlineExceeded
	}
	return &Error{Code: code, Message: err.Error(), Err: err}
}
