package publish

import (
	"context"
	"errors"
	"time"
)

// Outcomes of one attempt of a publish on one broker, as an Observer
// learns them: the values of servicebus_publish_total's outcome label.
const (
	OutcomeConfirmed   = "confirmed"   // basic.ack: the broker took it
	OutcomeNacked      = "nacked"      // basic.nack: the broker refused it
	OutcomeReturned    = "returned"    // basic.return: no queue for the routing key
	OutcomeTimeout     = "timeout"     // no confirm within ConfirmTimeout or the publish's deadline
	OutcomeBlocked     = "blocked"     // the broker blocks publishers (resource alarm)
	OutcomeUnavailable = "unavailable" // the connection was lost or not ready
)

// Observer learns what a Publisher does, for metrics. Its methods run on
// the publishing goroutine (Probed on a path's) and must not block. A nil
// Observer in Config observes nothing and costs nothing.
type Observer interface {
	// Attempted learns the outcome of one attempt on broker and how long
	// it took from the publish to its confirm (or to the failure).
	Attempted(broker, outcome string, took time.Duration)
	// Probed learns a health probe of broker: its round trip and error.
	Probed(broker string, took time.Duration, err error)
}

// outcomeOf names the outcome of an attempt that ended in err.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return OutcomeConfirmed
	case errors.Is(err, ErrNoRoute):
		return OutcomeReturned
	case errors.Is(err, ErrNacked):
		return OutcomeNacked
	case errors.Is(err, ErrBlocked):
		return OutcomeBlocked
	case errors.Is(err, ErrConfirmTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	}
	return OutcomeUnavailable
}
