package rpc

import (
	"errors"
	"testing"
)

// A caller that decodes the reply of a failed call (nil) gets an error, not a
// nil pointer panic.
func TestNilReplyDecodeReturnsErrNoReply(t *testing.T) {
	var r *Reply
	var sum int
	err := r.Decode(&sum)
	if !errors.Is(err, ErrNoReply) {
		t.Fatalf("Decode on nil reply = %v, want ErrNoReply", err)
	}
	if sum != 0 {
		t.Errorf("Decode on nil reply wrote %d", sum)
	}
	if r.IsJSON() {
		t.Error("nil reply IsJSON")
	}
}

func TestReplyDecode(t *testing.T) {
	var sum int
	if err := (&Reply{ID: "1", Raw: "3"}).Decode(&sum); err != nil || sum != 3 {
		t.Fatalf("Decode = %v, %d", err, sum)
	}
	// A py-servicebus agent's str() of a dict is not JSON.
	var m map[string]int
	err := (&Reply{ID: "2", Raw: "{'a': 1}"}).Decode(&m)
	if err == nil || errors.Is(err, ErrNoReply) {
		t.Fatalf("Decode of Python text = %v, want a JSON error", err)
	}
}
