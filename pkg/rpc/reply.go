package rpc

import (
	"encoding/json"
	"fmt"
)

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
		return fmt.Errorf("rpc: reply %q is not JSON of the wanted shape: %w", r.ID, err)
	}
	return nil
}
