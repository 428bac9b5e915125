package router

import (
	"context"
	"errors"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Recover is the outermost middleware of a message handler: a panic below
// it becomes an error (an *Error with codec.CodePanic, its cause a
// *PanicError), so the message is nacked and, in an agent, rejected rather
// than redelivered to panic again. Errors pass through unchanged: nobody
// waits for an answer, the nack is the outcome.
type Recover struct {
	// Observer learns of OutcomePanic and of OutcomeFailed (not for work
	// that an agent's Close cut short); nil: nothing.
	Observer Observer
}

// Middleware is Recover as Watermill handler middleware.
func (r Recover) Middleware(h message.HandlerFunc) message.HandlerFunc {
	h = recovering(h)
	return func(msg *message.Message) ([]*message.Message, error) {
		ctx := msg.Context()
		out, err := h(msg)
		if p, ok := err.(*PanicError); ok {
			r.Observer.observe(msg, OutcomePanic, p)
			return nil, p.asError()
		}
		if err != nil && !errors.Is(context.Cause(ctx), ErrDrainTimeout) {
			r.Observer.observe(msg, OutcomeFailed, err)
		}
		return out, err
	}
}
