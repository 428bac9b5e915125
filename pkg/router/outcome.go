package router

import "github.com/ThreeDotsLabs/watermill/message"

// Outcome is what a built-in middleware did with a message other than pass
// it on: answered it itself, refused it, or saw the service fail.
type Outcome int

// The outcomes, each with the middleware that reports it.
const (
	OutcomePong             Outcome = iota + 1 // Decode: a PING with reply_to, answered PONG
	OutcomeMalformed                           // Decode: the payload is no call envelope
	OutcomeTooLarge                            // Decode: the payload is over codec.Options.MaxBodySize
	OutcomeBadToken                            // Token: the credentials did not validate
	OutcomeDeadlineExceeded                    // Deadline: not run, the caller's deadline had passed
	OutcomeUnknownService                      // an agent's catch-all handler: no service of that name
	OutcomeFailed                              // Answer, Recover: the service or a middleware below returned an error
	OutcomePanic                               // Answer, Recover: the service or a middleware below panicked
)

var outcomeNames = [...]string{
	OutcomePong: "pong", OutcomeMalformed: "malformed", OutcomeTooLarge: "too_large",
	OutcomeBadToken: "bad_token", OutcomeDeadlineExceeded: "deadline_exceeded",
	OutcomeUnknownService: "unknown_service", OutcomeFailed: "failed", OutcomePanic: "panic",
}

func (o Outcome) String() string {
	if o > 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Observer learns every Outcome of the built-in middleware, in the handler's
// goroutine, before the middleware returns. err is the cause: the decoder's
// or the validator's error, what the service returned, a *PanicError; nil
// for OutcomePong. An agent's observer counts (Stats), logs (rate-limited)
// and marks bad input to be rejected after its answer. A nil Observer
// observes nothing.
type Observer func(msg *message.Message, o Outcome, err error)

func (f Observer) observe(msg *message.Message, o Outcome, err error) {
	if f != nil {
		f(msg, o, err)
	}
}
