package rpc

import (
	"encoding/json"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/codec"
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

// decodeReply turns a reply delivery into a Reply or a *RemoteError.
func (s *Sender) decodeReply(r result) (*Reply, error) {
	if code := headerString(r.headers, codec.HeaderErrorCode); code != "" {
		msg := headerString(r.headers, codec.HeaderErrorMessage)
		if msg == "" {
			if resp, err := codec.DecodeResponse(r.body, s.cfg.Codec); err == nil {
				msg = resp.Message
			}
		}
		return nil, &RemoteError{Code: codec.ErrorCode(code), Message: msg}
	}
	resp, err := codec.DecodeResponse(r.body, s.cfg.Codec)
	if err != nil {
		return nil, fmt.Errorf("rpc: undecodable reply: %w", err)
	}
	// A py-servicebus agent reports failures as plain texts.
	switch {
	case resp.Message == codec.TextTokenNotValid:
		return nil, &RemoteError{Code: codec.CodeBadToken, Message: resp.Message}
	case strings.HasPrefix(resp.Message, unknownServicePrefix):
		return nil, &RemoteError{Code: codec.CodeUnknownService, Message: resp.Message}
	}
	return &Reply{ID: resp.ID, Raw: resp.Message}, nil
}

var unknownServicePrefix = strings.TrimSuffix(codec.UnknownServiceText("", ""), ".")

func headerString(h amqp.Table, key string) string {
	v, ok := h[key]
	if !ok {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}
