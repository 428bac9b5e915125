package broker

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by a Path that was closed. It is the root of every
// "closed" error of servicebus: the ErrClosed of each package (failover,
// rpc, router, the root package) wraps it, so errors.Is(err,
// broker.ErrClosed) answers "was it closed?" whichever layer said so.
var ErrClosed = errors.New("broker: closed")

// ErrTooLarge means a message cannot be published as it is: its properties
// and headers do not fit one frame of the connection (the broker's
// frame_max), or its body is over the broker's largest message. Sent anyway,
// the first closes the whole connection (FRAME_ERROR) and the second the
// channel, failing every publish in flight with it; so it is refused before
// it is written, and no other broker is tried.
var ErrTooLarge = errors.New("broker: message too large for the broker")

// ErrRefused means a broker refused the connection or its set-up for a
// reason that retrying does not heal: the user or password (403
// ACCESS_REFUSED), a vhost that does not exist or that the user may not use
// (530 NOT_ALLOWED), a TLS certificate that failed verification (the
// broker's, checked by us, or ours, refused by the broker), or a topology
// that does not match what the broker already has (406 PRECONDITION_FAILED
// at set-up). Someone has to change the config or the broker. A Path keeps
// trying in the background all the same (the operator may fix the broker),
// but a publish fails at once with it when every broker refuses so. The
// error is a *RefusedError, which names the broker and the cause.
var ErrRefused = errors.New("broker: refused")

// RefusedError is a refusal that cannot heal by retrying (see ErrRefused),
// from one broker. errors.Is(err, ErrRefused) matches it, and errors.As
// reaches the error it wraps (an *amqp091.Error, an x509 error, ...).
type RefusedError struct {
	// Broker is the endpoint without credentials.
	Broker string
	// Reason says in a few words what was refused: "access refused",
	// "vhost not found", "TLS certificate verification failed", ...
	Reason string
	// Code is the AMQP reply code the broker gave (403, 530, 406), 0 for TLS.
	Code int
	// Err is the error as the connection or the set-up returned it.
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("broker: %s refused: %s: %v", e.Broker, e.Reason, e.Err)
}

// Unwrap gives ErrRefused and the underlying error.
func (e *RefusedError) Unwrap() []error { return []error{ErrRefused, e.Err} }
