package router

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Token checks a call's credentials with a token.Validator: the envelope's
// daily token, or the signature headers of hmac mode (from the message's
// metadata). A call that does not validate is an *Error with
// codec.CodeBadToken and py-servicebus's text "Token not valid!"; an agent
// answers it (Answer) and then rejects the delivery. It runs after Decode.
type Token struct {
	// Validator checks the credentials; required (token.NoTokens turns the
	// check off, which must be said in so many words).
	Validator token.Validator
	// Observer learns of OutcomeBadToken; err is the validator's reason.
	Observer Observer
}

// Middleware is Token as Watermill handler middleware. It panics without
// a Validator: a check that was forgotten must not let every call through.
func (t Token) Middleware(h message.HandlerFunc) message.HandlerFunc {
	if t.Validator == nil {
		panic("router: Token needs a Validator (token.NoTokens turns the check off)")
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		req, err := requestOf(msg)
		if err != nil {
			return nil, err
		}
		if err := t.Validator.Validate(msg.Context(), &req.event, msg.Metadata, time.Now()); err != nil {
			t.Observer.observe(msg, OutcomeBadToken, err)
			return nil, &Error{Code: codec.CodeBadToken, Message: codec.TextTokenNotValid, Err: err}
		}
		return h(msg)
	}
}
