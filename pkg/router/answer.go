package router

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Answer is the outermost middleware of an RPC handler: whatever happens
// below it, the call gets a reply and the handler returns no error. A panic
// becomes an *Error with codec.CodePanic (its cause a *PanicError), an
// error the reply of its *Error (asError: CodeServiceError, or
// CodeDeadlineExceeded for a context.DeadlineExceeded). The reply's body is
// the text a py-servicebus caller knows; the x-sb-error-code and
// x-sb-error-message metadata carry code and text for our sender.
//
// Only work cut short by an agent's Close (its context cancelled with the
// cause ErrDrainTimeout) is not answered: the error goes up, the router
// nacks the message and the agent gives the call back to the broker, so
// that another agent answers it.
type Answer struct {
	// Observer learns of OutcomeFailed and OutcomePanic; nil: nothing.
	Observer Observer
}

// Middleware is Answer as Watermill handler middleware.
func (a Answer) Middleware(h message.HandlerFunc) message.HandlerFunc {
	h = recovering(h)
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context() // before the middleware below replace it
		out, err := h(msg)
		if p, ok := err.(*PanicError); ok {
			a.Observer.observe(msg, OutcomePanic, p)
			return []*message.Message{errorReply(msg, p.asError())}, nil
		}
		switch {
		case err == nil:
			return out, nil
		case errors.Is(err, context.Canceled) && errors.Is(context.Cause(ctx), ErrDrainTimeout):
			return nil, err
		}
		a.Observer.observe(msg, OutcomeFailed, err)
		return []*message.Message{errorReply(msg, asError(err))}, nil
	}
}

// recovering returns h with a panic turned into its *PanicError, returned
// as it is (not wrapped) for Answer and Recover to tell it apart.
func recovering(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) (out []*message.Message, err error) {
		defer func() {
			if v := recover(); v != nil {
				out, err = nil, newPanicError(v)
			}
		}()
		return h(msg)
	}
}
