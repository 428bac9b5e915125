package router

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// subscriber is the message.Subscriber of every handler the agent adds to
// its router: Subscribe(topic) returns the input of the handler named
// topic, fed by the consume loops of every path (route). Handlers a user
// adds with subscribers of their own never see it.
type subscriber struct {
	a    *Agent
	once sync.Once
}

func (s *subscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	if in := s.a.services.input(topic); in != nil {
		return in, nil
	}
	return nil, fmt.Errorf("router: no handler of the agent reads topic %q", topic)
}

// Close ends every handler's input. The router calls it when it closes:
// through the agent's Close once the consume loops ended, or directly, and
// then it stops the consume loops first, so nothing is sent on a closed
// input.
func (s *subscriber) Close() error {
	s.once.Do(func() {
		s.a.stopFeeding()
		s.a.consumeWG.Wait()
		s.a.services.closeInputs()
	})
	return nil
}

// route parses the message of a delivery and returns the input of the
// handler that takes it: its service's, else the catch-all of its kind
// (HandlerRPC, HandlerMessage), where Decode answers a PING and refuses an
// undecodable body and an unknown service is answered or rejected. The
// result is kept in the delivery for Decode, so a body is parsed once.
func (a *Agent) route(msg *message.Message, dl *delivery) chan *message.Message {
	dl.decoded = decodeMessage(msg, a.cfg.Codec, &dl.request)
	rpc := dl.ReplyTo != ""
	if req := dl.decoded.req; req != nil {
		req.Meta.Broker = dl.pc.broker
		if in := a.services.route(rpc, req.Category, req.Service); in != nil {
			return in
		}
	}
	if rpc {
		return a.rpcIn
	}
	return a.msgIn
}
