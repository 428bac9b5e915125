package rpc

import (
	"errors"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// An error reply's text is the x-sb-error-message header; without it, the
// response envelope's message (what a py-servicebus caller reads).
func TestErrorReplyTextFromTheHeaderElseTheBody(t *testing.T) {
	s := &Sender{}
	body := codec.EncodeResponse(&codec.Response{ID: "1", Message: "text in the body"})
	for _, tc := range []struct {
		name    string
		headers amqp.Table
		want    string
	}{
		{"header", amqp.Table{codec.HeaderErrorCode: "SERVICE_ERROR", codec.HeaderErrorMessage: "text in the header"}, "text in the header"},
		{"no header", amqp.Table{codec.HeaderErrorCode: "SERVICE_ERROR"}, "text in the body"},
	} {
		_, err := s.decodeReply(result{body: body, headers: tc.headers})
		var remote *RemoteError
		if !errors.As(err, &remote) || remote.Message != tc.want || remote.Code != "SERVICE_ERROR" {
			t.Errorf("%s: %v, want a RemoteError SERVICE_ERROR %q", tc.name, err, tc.want)
		}
	}
}
