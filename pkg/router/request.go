package router

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// Caller calls other services from inside a service (py-servicebus
// request.get_sender()). *rpc.Sender satisfies it; the root package wires it.
type Caller interface {
	// Call runs the RPC target ("NODE.CATEGORY.NAME") and returns its reply.
	Call(ctx context.Context, target string, params any) (*rpc.Reply, error)
	// Send publishes a message to target and returns once a broker took it.
	Send(ctx context.Context, target string, params any) error
}

// Request is one call or message as a service sees it.
type Request struct {
	ID       string // the event id the sender chose
	Category string
	Service  string
	Token    string          // the daily token of the envelope ("" in other token modes)
	Params   json.RawMessage // the JSON text of the params
	Meta     Metadata

	caller Caller
	event  codec.Event // as decoded, for the token validator
}

// Metadata is what the delivery said beyond the envelope: Decode reads it
// from the message's codec.Marshaler metadata, an agent adds the broker.
type Metadata struct {
	Broker        string // the broker the request came from, without credentials ("" outside an agent)
	Redelivered   bool   // the broker delivered it before (an earlier attempt may have run)
	ReplyTo       string // "" for a message
	CorrelationID string
	Deadline      time.Time // zero when the sender set none
	// Headers holds every AMQP header and the AMQP properties under the
	// codec's amqp.* keys, as text.
	Headers map[string]string
}

// IsRPC reports whether the sender waits for a reply.
func (r *Request) IsRPC() bool { return r.Meta.ReplyTo != "" }

// Target is "CATEGORY.NAME".
func (r *Request) Target() string { return r.Category + "." + r.Service }

// Decode unmarshals the params into v. A failure is a bad request: the
// caller gets CodeBadRequest and the service is not retried.
func (r *Request) Decode(v any) error {
	params := r.Params
	if len(params) == 0 {
		params = json.RawMessage("null")
	}
	if err := json.Unmarshal(params, v); err != nil {
		return &Error{Code: codec.CodeBadRequest, Message: fmt.Sprintf("params of %s: %v", r.Target(), err), Err: err}
	}
	return nil
}

// Sender returns the agent's Caller, nil when the agent has none.
func (r *Request) Sender() Caller { return r.caller }

type requestKey struct{}

// RequestFromContext returns the request that Decode put in a message's
// context, for the middleware and the service after it. (In an agent it is
// there from the start, parsed by the subscriber.) A reply message's
// context is its request's, so a publisher finds ReplyTo and
// CorrelationID there too.
func RequestFromContext(ctx context.Context) (*Request, bool) {
	if dl, ok := ctx.Value(deliveryKey{}).(*delivery); ok && dl.decoded.req != nil {
		return dl.decoded.req, true
	}
	r, ok := ctx.Value(requestKey{}).(*Request)
	return r, ok
}

// requestOf is the request Decode put in msg's context, or errNoRequest.
func requestOf(msg *message.Message) (*Request, error) {
	if r, ok := RequestFromContext(msg.Context()); ok {
		return r, nil
	}
	return nil, errNoRequest
}
