package router_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Our own sender against the agent: results, typed remote errors, the
// deadline header, PING, and a service that calls another through
// Request.Sender (an *rpc.Sender is a router.Caller).
func TestAgentServesOurSender(t *testing.T) {
	dialBroker(t, brokerURL())
	node := testkit.UniqueName("sbtest-oursender")
	testkit.DeleteQueues(t, brokerURL(), node)
	sender, err := rpc.NewSender(rpc.Config{
		Endpoints:     []broker.Endpoint{{URL: brokerURL()}},
		Signer:        token.NewDailyTokens(secret, nil),
		ProbeInterval: -1,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close() })
	var _ router.Caller = sender

	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("math", "add", add)
		a.AddRPCService("math", "twice", func(ctx context.Context, req *router.Request) (any, error) {
			reply, err := req.Sender().Call(ctx, node+".math.add", req.Params)
			if err != nil {
				return nil, err
			}
			var sum float64
			if err := reply.Decode(&sum); err != nil {
				return nil, err
			}
			return 2 * sum, nil
		})
	}, func(c *router.Config) { c.Caller = sender })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := sender.Call(ctx, node+".math.twice", []int{1, 2})
	if err != nil || reply.Raw != "6" {
		t.Fatalf("math.twice: %+v, %v", reply, err)
	}
	_, err = sender.Call(ctx, node+".math.mul", []int{1, 2})
	var remote *rpc.RemoteError
	if !errors.As(err, &remote) || remote.Code != codec.CodeUnknownService || remote.Message != "Cannot Find RPC Service: math.mul" {
		t.Fatalf("unknown service: %v", err)
	}
	if _, err := sender.Ping(ctx, node); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
