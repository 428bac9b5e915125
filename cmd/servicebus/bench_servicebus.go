package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/pprof"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// benchSecret signs the daily tokens of the servicebus side; the agent
// checks every call as in production.
const benchSecret = "servicebus-bench-secret"

func benchTokens() *token.DailyTokens { return token.NewDailyTokens(benchSecret, time.UTC) }

// benchSum is the service of both sides: the sum of a JSON list.
func benchSum(_ context.Context, nums []float64) (float64, error) {
	var sum float64
	for _, n := range nums {
		sum += n
	}
	return sum, nil
}

// benchQueues are the queues (node names) the bench declares: floor RPC,
// servicebus RPC, floor send, servicebus send, floor RPC with confirms.
func benchQueues(suffix string) []string {
	return []string{"bench-floor-rpc-" + suffix, "bench-sb-rpc-" + suffix, "bench-floor-send-" + suffix,
		"bench-sb-send-" + suffix, "bench-floorc-rpc-" + suffix, "bench-mixa-rpc-" + suffix, "bench-mixs-rpc-" + suffix}
}

// newRPCTargets starts the RPC implementations of impls on one broker, each
// on its own queue: the floor pair, a servicebus agent and sender, the floor
// pair with confirms.
func newRPCTargets(url, suffix string, impls []string) (targets []benchTarget, err error) {
	defer func() {
		if err != nil {
			for _, t := range targets {
				t.close()
			}
			targets = nil
		}
	}()
	topo := topology.Topology{}
	q := benchQueues(suffix)
	for _, impl := range impls {
		switch impl {
		case implFloor, implConfirms:
			confirms := impl == implConfirms
			queue := q[0]
			if confirms {
				queue = q[4]
			}
			f, err := newFloorRPC(url, topo, queue, confirms)
			if err != nil {
				return targets, fmt.Errorf("%s: %w", impl, err)
			}
			targets = append(targets, benchTarget{impl: impl, call: f.call, close: f.close})
		case implServicebus, implMixAgent, implMixSender:
			var t benchTarget
			var err error
			switch impl {
			case implServicebus:
				t, err = newServicebusRPC(url, topo, q[1])
			case implMixAgent:
				t, err = newMixAgent(url, topo, q[5])
			case implMixSender:
				t, err = newMixSender(url, topo, q[6])
			}
			if err != nil {
				return targets, fmt.Errorf("%s: %w", impl, err)
			}
			targets = append(targets, t)
		}
	}
	return targets, nil
}

// newServicebusRPC starts an agent serving math.add on node and a sender
// calling it, both with daily tokens.
func newServicebusRPC(url string, topo topology.Topology, node string) (benchTarget, error) {
	eps := []broker.Endpoint{{URL: url}}
	agent, err := router.NewAgent(router.Config{
		Endpoints: eps,
		Topology:  topo,
		NodeName:  node,
		Tokens:    benchTokens(),
	}, nil)
	if err != nil {
		return benchTarget{}, err
	}
	agent.AddRPCService("math", "add", router.RPC(benchSum))
	// Profile labels (inherited by every goroutine started inside) split a
	// --cpuprofile into agent and sender: go tool pprof -tagfocus side=agent.
	pprof.Do(context.Background(), pprof.Labels("side", "agent"), func(ctx context.Context) { err = agent.Start(ctx) })
	if err != nil {
		agent.Close()
		return benchTarget{}, err
	}
	var sender *rpc.Sender
	pprof.Do(context.Background(), pprof.Labels("side", "sender"), func(context.Context) {
		sender, err = rpc.NewSender(rpc.Config{Endpoints: eps, Topology: topo, Signer: benchTokens()}, nil)
	})
	if err != nil {
		agent.Close()
		deleteQueues(url, node)
		return benchTarget{}, err
	}
	cleanup := func() {
		sender.Close()
		agent.Close()
		deleteQueues(url, node)
	}
	// The agent consumes once its path is up; the first call needs that.
	deadline := time.Now().Add(15 * time.Second)
	for agent.Consuming() == 0 {
		if time.Now().After(deadline) {
			cleanup()
			return benchTarget{}, errors.New("servicebus agent did not start consuming within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	target := node + ".math.add"
	params := json.RawMessage(benchParams)
	return benchTarget{impl: implServicebus, close: cleanup, call: func(ctx context.Context) error {
		reply, err := sender.Call(ctx, target, params)
		if err != nil {
			return err
		}
		if reply.Raw != "3" {
			return fmt.Errorf("servicebus: got %q, want 3", reply.Raw)
		}
		return nil
	}}, nil
}

// newSendTargets prepares node queues with no consumer: the floor publishes
// the same XML envelope that Send publishes, persistent and mandatory, on a
// confirm-mode channel.
func newSendTargets(url, suffix string, impls []string) (targets []benchTarget, err error) {
	defer func() {
		if err != nil {
			for _, t := range targets {
				t.close()
			}
			targets = nil
		}
	}()
	topo := topology.Topology{}
	q := benchQueues(suffix)
	for _, impl := range impls {
		switch impl {
		case implFloor:
			ev := codec.Event{Version: "1", ID: "0123456789abcdef-1", Category: "math", Service: "add", Params: benchParams}
			if _, err := benchTokens().Sign(&ev, time.Now()); err != nil {
				return targets, err
			}
			f, err := newFloorSend(url, topo, q[2], codec.EncodeEvent(&ev))
			if err != nil {
				return targets, fmt.Errorf("%s: %w", impl, err)
			}
			targets = append(targets, benchTarget{impl: impl, call: f.send, close: f.close})
		case implServicebus:
			node := q[3]
			if err := declareQueue(url, topo, node); err != nil {
				return targets, err
			}
			sender, err := rpc.NewSender(rpc.Config{Endpoints: []broker.Endpoint{{URL: url}}, Topology: topo, Signer: benchTokens()}, nil)
			if err != nil {
				deleteQueues(url, node)
				return targets, err
			}
			target := node + ".math.add"
			params := json.RawMessage(benchParams)
			targets = append(targets, benchTarget{impl: impl,
				call: func(ctx context.Context) error { return sender.Send(ctx, target, params) },
				close: func() {
					sender.Close()
					deleteQueues(url, node)
				}})
		}
	}
	return targets, nil
}

func declareQueue(url string, topo topology.Topology, node string) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	return topo.DeclareNodeQueue(ch, node)
}

// deleteQueues removes the bench's queues; failures are ignored (the broker
// may be gone, and there is nothing left to do about it).
func deleteQueues(url string, names ...string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	for _, n := range names {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		ch.QueueDelete(n, false, false, false)
		ch.Close()
	}
}
