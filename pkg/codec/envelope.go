package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Event is the call envelope of py-servicebus 2.x: what a sender publishes to
// a node queue. Params holds the JSON text of the params CDATA section.
type Event struct {
	Version  string // the root's version attribute; "1" for everything we write
	ID       string
	Token    string
	Category string
	Service  string
	Params   json.RawMessage
}

// Response is the reply envelope: the event id and the result text. A Go agent
// writes JSON there; a Python agent writes Python's str() of the result.
type Response struct {
	ID      string
	Message string
}

// Reply is what a caller gets back from an RPC: the raw result text and, where
// it is JSON, a way to decode it.
type Reply struct {
	ID  string // the event id the reply answers
	Raw string // the response message exactly as the agent wrote it
}

// IsJSON reports whether the raw text is a JSON value; false for a nil Reply.
func (r *Reply) IsJSON() bool { return r != nil && json.Valid([]byte(r.Raw)) }

// Decode unmarshals the result into v. It fails when the agent did not answer
// with JSON (a py-servicebus agent answers with Python's str() of the result),
// and with ErrNoReply on a nil Reply, the reply of a call that failed: code
// that decodes without checking the call's error gets an error, not a panic.
func (r *Reply) Decode(v any) error {
	if r == nil {
		return ErrNoReply
	}
	if err := json.Unmarshal([]byte(r.Raw), v); err != nil {
		return fmt.Errorf("codec: reply %q is not JSON of the wanted shape: %w", r.ID, err)
	}
	return nil
}

// PingBody and PongBody are the raw bodies of the liveness check: a delivery
// whose body is exactly PING and that has reply_to is answered with PONG.
var (
	PingBody = []byte("PING")
	PongBody = []byte("PONG")
)

// IsPing reports whether body is the ping request.
func IsPing(body []byte) bool { return bytes.Equal(body, PingBody) }
