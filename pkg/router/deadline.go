package router

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Deadline refuses work whose caller has given up, and hands the caller's
// deadline (Request.Meta.Deadline: x-sb-deadline, else AMQP timestamp plus
// expiration) to the context of what runs after it. A request past its
// deadline is an *Error with codec.CodeDeadlineExceeded and is not run: a
// call is still answered (clocks differ, the caller may wait yet, and our
// sender drops replies it no longer expects), a message is rejected. It
// runs after Decode.
type Deadline struct {
	// Observer learns of OutcomeDeadlineExceeded.
	Observer Observer
}

// Middleware is Deadline as Watermill handler middleware.
func (d Deadline) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		req, err := requestOf(msg)
		if err != nil {
			return nil, err
		}
		deadline := req.Meta.Deadline
		if deadline.IsZero() {
			return h(msg)
		}
		if late := time.Since(deadline); late >= 0 {
			e := &Error{Code: codec.CodeDeadlineExceeded, Message: fmt.Sprintf("deadline of %s passed %s before it was run", req.Target(), late.Round(time.Millisecond))}
			d.Observer.observe(msg, OutcomeDeadlineExceeded, e)
			return nil, e
		}
		ctx, cancel := context.WithDeadline(msg.Context(), deadline)
		defer cancel()
		msg.SetContext(ctx)
		return h(msg)
	}
}
