package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func TestSendWithFirstBrokerStoppedLandsOnSecondAndPingAllSaysOneOfTwo(t *testing.T) {
	url := brokertest.RequireBroker(t)
	first := brokertest.StartNode(t, brokertest.NodeOptions{})
	first.Stop(t)

	node := testkit.UniqueName("sbtest-fo")
	agent := startStandIn(t, url, node, false, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, first.URL(), url)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, node+".util.echo", "hello"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, "the message run", func() bool { return agent.runs("echo") == 1 })
	reply, err := s.Call(ctx, node+".math.add", []int{1, 2})
	if err != nil || reply.Raw != "3" {
		t.Fatalf("Call over the second broker: %v, %v", reply, err)
	}

	res, err := s.PingAll(ctx, node)
	if err != nil {
		t.Fatalf("PingAll: %v", err)
	}
	if res.Brokers != 2 || res.Answered != 1 {
		t.Fatalf("PingAll = %d of %d answered, want 1 of 2 (%+v)", res.Answered, res.Brokers, res.Paths)
	}
	if res.Paths[0].Err == nil || res.Paths[1].Err != nil || res.Paths[1].RTT <= 0 {
		t.Fatalf("PingAll paths = %+v, want the first failed and the second answered", res.Paths)
	}
}
