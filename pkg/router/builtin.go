package router

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Builtin holds what the built-in middleware need and lists them in the
// order an agent runs them on every service handler (see the package doc).
// servicebustest runs services through the same lists; a router of your
// own can use them, or pick single middleware (Answer, Decode, ...).
type Builtin struct {
	Codec    codec.Options   // Decode's limits
	Tokens   token.Validator // Token's validator; required
	Caller   Caller          // what Request.Sender returns
	Retry    RetryConfig     // of message services
	Observer Observer        // told of every Outcome
	Logger   watermill.LoggerAdapter
}

// RPC is the middleware of an RPC handler, outermost first: Answer, Decode,
// Token, Deadline.
func (b Builtin) RPC() []message.HandlerMiddleware {
	return append([]message.HandlerMiddleware{Answer{Observer: b.Observer}.Middleware}, b.checks()...)
}

// Message is the middleware of a message handler, outermost first:
// Recover, Decode, Token, Deadline, Retry.
func (b Builtin) Message() []message.HandlerMiddleware {
	m := append([]message.HandlerMiddleware{Recover{Observer: b.Observer}.Middleware}, b.checks()...)
	return append(m, Retry{RetryConfig: b.Retry, Logger: b.Logger}.Middleware)
}

// checks are what calls and messages both pass: Decode, Token, Deadline.
func (b Builtin) checks() []message.HandlerMiddleware {
	return []message.HandlerMiddleware{
		Decode{Codec: b.Codec, Caller: b.Caller, Observer: b.Observer}.Middleware,
		Token{Validator: b.Tokens, Observer: b.Observer}.Middleware,
		Deadline{Observer: b.Observer}.Middleware,
	}
}
