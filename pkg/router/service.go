package router

import (
	"context"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// RPCService answers a call; its result is sent back as JSON. A returned
// *Error chooses the error code, any other error is CodeServiceError.
type RPCService func(ctx context.Context, req *Request) (any, error)

// MessageService handles a message; nil acks it, an error is retried (see
// Config.MessageRetry) and then rejected (dead-lettered in durable topology).
type MessageService func(ctx context.Context, req *Request) error

// RPC adapts a function of typed params to an RPCService: params that do not
// decode into P are a bad request.
func RPC[P, R any](fn func(ctx context.Context, params P) (R, error)) RPCService {
	return func(ctx context.Context, req *Request) (any, error) {
		var p P
		if err := req.Decode(&p); err != nil {
			return nil, err
		}
		return fn(ctx, p)
	}
}

// Message adapts a function of typed params to a MessageService.
func Message[P any](fn func(ctx context.Context, params P) error) MessageService {
	return func(ctx context.Context, req *Request) error {
		var p P
		if err := req.Decode(&p); err != nil {
			return err
		}
		return fn(ctx, p)
	}
}

// RPCHandlerName and MessageHandlerName are the names of a service's
// Watermill handler on the agent's router ("rpc:math.add"), which
// Watermill's metrics use as the handler_name label.
func RPCHandlerName(category, name string) string { return "rpc:" + category + "." + name }

// MessageHandlerName: see RPCHandlerName.
func MessageHandlerName(category, name string) string { return "message:" + category + "." + name }

// HandleRPC is the handler function of an RPC service: it runs svc with the
// request that Decode put in the message's context and returns the reply,
// the response envelope with the result as JSON.
func HandleRPC(svc RPCService) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		req, err := requestOf(msg)
		if err != nil {
			return nil, err
		}
		result, err := svc(msg.Context(), req)
		if err != nil {
			return nil, err
		}
		reply, err := resultReply(msg, req.ID, result)
		if err != nil {
			return nil, &Error{Code: codec.CodeServiceError, Message: fmt.Sprintf("%s: %v", req.Target(), err), Err: err}
		}
		return produced(msg, reply), nil
	}
}

// produced is the slice HandleRPC returns its reply in. In an agent it is
// the delivery's own slot (delivery.out), which lives as long as the call:
// a slice of its own cost a heap object a call. The slot is taken once; a
// middleware that runs the handler again gets a slice of its own.
func produced(msg, reply *message.Message) []*message.Message {
	if dl := deliveryFrom(msg); dl != nil && dl.outTaken.CompareAndSwap(false, true) {
		dl.out[0] = reply
		return dl.out[:]
	}
	return []*message.Message{reply}
}

// HandleMessage is the handler function of a message service: it runs svc
// with the request that Decode put in the message's context.
func HandleMessage(svc MessageService) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		req, err := requestOf(msg)
		if err != nil {
			return err
		}
		return svc(msg.Context(), req)
	}
}
