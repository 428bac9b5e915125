package codec

import "bytes"

// The wire vocabulary beyond the envelopes: the headers servicebus adds,
// the codes of structured error replies, the ping, and the texts a
// py-servicebus caller knows. The token headers belong to pkg/token.

// AMQP header names that our agents and senders add beyond the py-servicebus
// wire format. A Python peer ignores them.
const (
	// HeaderDeadline carries the caller's deadline as Unix milliseconds
	// (decimal text); an agent does not run a request whose deadline passed.
	HeaderDeadline = "x-sb-deadline"
	// HeaderErrorCode and HeaderErrorMessage carry a structured error on a
	// reply; the body still holds the text a py-servicebus caller expects.
	HeaderErrorCode    = "x-sb-error-code"
	HeaderErrorMessage = "x-sb-error-message"
)

// ErrorCode names the kind of failure in a structured error reply.
type ErrorCode string

const (
	CodeUnknownService   ErrorCode = "unknown_service"
	CodeBadToken         ErrorCode = "bad_token"
	CodeBadRequest       ErrorCode = "bad_request" // undecodable or over-limit body
	CodeServiceError     ErrorCode = "service_error"
	CodePanic            ErrorCode = "panic"
	CodeDeadlineExceeded ErrorCode = "deadline_exceeded"
	CodeUnavailable      ErrorCode = "unavailable" // the agent is shutting down
)

// Texts a py-servicebus caller knows, written as the reply body.
const TextTokenNotValid = "Token not valid!"

// UnknownServiceText is py-servicebus's reply to a call of a service the node
// does not have.
func UnknownServiceText(category, name string) string {
	return "Cannot Find RPC Service: " + category + "." + name
}

// PingBody and PongBody are the raw bodies of the liveness check: a delivery
// whose body is exactly PING and that has reply_to is answered with PONG.
var (
	PingBody = []byte("PING")
	PongBody = []byte("PONG")
)

// IsPing reports whether body is the ping request.
func IsPing(body []byte) bool { return bytes.Equal(body, PingBody) }
