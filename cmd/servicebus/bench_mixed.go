package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// Mixed pairs put one plain amqp091-go side against one servicebus side,
// both speaking the XML envelope with daily tokens, to tell whether a gap
// to the floor lies in the agent or in the sender. Experiments, not in the
// default table.
const (
	implMixAgent  = "mix:amqp091-client+agent"
	implMixSender = "mix:sender+amqp091-server"
)

// newMixAgent is a plain client calling a servicebus agent: it publishes the
// call envelope with a token and decodes the response envelope.
func newMixAgent(url string, topo topology.Topology, node string) (benchTarget, error) {
	agent, err := newServicebusRPC(url, topo, node)
	if err != nil {
		return benchTarget{}, err
	}
	tokens := benchTokens()
	f, err := newFloorRPCWith(&floorRPC{
		exchange: topo.ExchangeName(), queue: node,
		request: func(id string) []byte {
			ev := codec.Event{Version: "1", ID: id, Category: "math", Service: "add", Params: benchParams}
			tokens.Sign(&ev, time.Now())
			return codec.EncodeEvent(&ev)
		},
		check: func(body []byte) error {
			resp, err := codec.DecodeResponse(body, codec.Options{})
			if err != nil {
				return err
			}
			if resp.Message != "3" {
				return fmt.Errorf("agent answered %q, want 3", resp.Message)
			}
			return nil
		},
	}, url, topo)
	if err != nil {
		agent.close()
		return benchTarget{}, err
	}
	return benchTarget{impl: implMixAgent, call: f.call, close: func() { f.close(); agent.close() }}, nil
}

// newMixSender is a servicebus sender calling a plain server that decodes
// the call envelope, checks the token, sums and answers a response envelope.
func newMixSender(url string, topo topology.Topology, node string) (benchTarget, error) {
	tokens := benchTokens()
	f, err := newFloorRPCWith(&floorRPC{
		exchange: topo.ExchangeName(), queue: node,
		serve: func(out, body []byte) []byte {
			ev, err := codec.DecodeEvent(body, codec.Options{})
			if err != nil {
				return codec.AppendResponse(out, &codec.Response{Message: err.Error()})
			}
			if err := tokens.Validate(context.Background(), &ev, nil, time.Now()); err != nil {
				return codec.AppendResponse(out, &codec.Response{ID: ev.ID, Message: codec.TextTokenNotValid})
			}
			return codec.AppendResponse(out, &codec.Response{ID: ev.ID, Message: string(floorSum(nil, ev.Params))})
		},
	}, url, topo)
	if err != nil {
		return benchTarget{}, err
	}
	sender, err := rpc.NewSender(rpc.Config{Endpoints: []broker.Endpoint{{URL: url}}, Topology: topo, Signer: tokens}, nil)
	if err != nil {
		f.close()
		return benchTarget{}, err
	}
	target := node + ".math.add"
	params := json.RawMessage(benchParams)
	return benchTarget{impl: implMixSender, close: func() { sender.Close(); f.close() }, call: func(ctx context.Context) error {
		reply, err := sender.Call(ctx, target, params)
		if err != nil {
			return err
		}
		if reply.Raw != "3" {
			return fmt.Errorf("got %q, want 3", reply.Raw)
		}
		return nil
	}}, nil
}
