package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// The mixed experiments put one plain amqp091-go side against one
// servicebus side, both speaking the XML envelope with daily tokens, to tell
// whether a gap to the floor lies in the agent or in the sender. They are
// not in the default table.

// xmlRequest is the plain client's call of a servicebus agent: the call
// envelope of math.add [1,2] with today's token.
func xmlRequest(tokens *token.DailyTokens) func(id string) []byte {
	return func(id string) []byte {
		ev := codec.Event{Version: "1", ID: id, Category: "math", Service: "add", Params: benchParams}
		tokens.Sign(&ev, time.Now())
		return codec.EncodeEvent(&ev)
	}
}

// xmlCheck decodes the agent's response envelope and checks the sum.
func xmlCheck(body []byte) error {
	resp, err := codec.DecodeResponse(body, codec.Options{})
	if err != nil {
		return err
	}
	if resp.Message != "3" {
		return fmt.Errorf("bench: agent answered %q, want 3", resp.Message)
	}
	return nil
}

// xmlServe is the plain server's answer to a servicebus sender: it decodes
// the call envelope, checks the token, sums and answers a response envelope.
func xmlServe(tokens *token.DailyTokens) func(out, body []byte) []byte {
	return func(out, body []byte) []byte {
		ev, err := codec.DecodeEvent(body, codec.Options{})
		if err != nil {
			return codec.AppendResponse(out, &codec.Response{Message: err.Error()})
		}
		if err := tokens.Validate(context.Background(), &ev, nil, time.Now()); err != nil {
			return codec.AppendResponse(out, &codec.Response{ID: ev.ID, Message: codec.TextTokenNotValid})
		}
		return codec.AppendResponse(out, &codec.Response{ID: ev.ID, Message: string(floorSum(nil, ev.Params))})
	}
}
