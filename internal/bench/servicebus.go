package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// benchParams are the params of every benchmarked call: math.add of [1,2].
var benchParams = []byte("[1,2]")

// benchSecret signs the daily tokens of the servicebus sides; the agent
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

// agentStartTimeout bounds the wait for a new agent to consume.
const agentStartTimeout = 15 * time.Second

// startAgent starts an agent serving math.add on node, with daily tokens,
// and returns once it consumes.
func startAgent(url string, topo topology.Topology, node string, withMetrics bool) (*router.Agent, error) {
	cfg := router.Config{
		Endpoints: []broker.Endpoint{{URL: url}},
		Topology:  topo,
		NodeName:  node,
		Tokens:    benchTokens(),
	}
	m, err := benchMetrics(withMetrics)
	if err != nil {
		return nil, err
	}
	if m != nil {
		cfg.OnProbe = m.ProbeFunc(metrics.RoleAgent)
	}
	agent, err := router.NewAgent(cfg, nil)
	if err != nil {
		return nil, err
	}
	if m != nil {
		m.AddAgent(agent)
	}
	agent.AddRPCService("math", "add", router.RPC(benchSum))
	// Profile labels (inherited by every goroutine started inside) split a
	// CPU profile by side: go tool pprof -tagfocus side=agent.
	pprof.Do(context.Background(), pprof.Labels("side", "agent"), func(ctx context.Context) { err = agent.Start(ctx) })
	if err != nil {
		agent.Close()
		return nil, err
	}
	// The agent consumes once its path is up; the first call needs that.
	deadline := time.Now().Add(agentStartTimeout)
	for agent.Consuming() == 0 {
		if time.Now().After(deadline) {
			agent.Close()
			return nil, fmt.Errorf("bench: agent did not consume within %s", agentStartTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return agent, nil
}

// benchMetrics is a fresh registry's servicebus metrics, nil when off:
// nobody scrapes them, what is measured is the cost of observing.
func benchMetrics(on bool) (*metrics.Metrics, error) {
	if !on {
		return nil, nil
	}
	return metrics.New(prometheus.NewRegistry(), metrics.Options{})
}

// newSender is a sender with daily tokens, labelled for profiles.
func newSender(url string, topo topology.Topology, withMetrics bool) (*rpc.Sender, error) {
	cfg := rpc.Config{Endpoints: []broker.Endpoint{{URL: url}}, Topology: topo, Signer: benchTokens()}
	m, err := benchMetrics(withMetrics)
	if err != nil {
		return nil, err
	}
	if m != nil {
		cfg.Observer = m.SenderObserver()
	}
	var sender *rpc.Sender
	pprof.Do(context.Background(), pprof.Labels("side", "sender"), func(context.Context) {
		sender, err = rpc.NewSender(cfg, nil)
	})
	if err == nil && m != nil {
		m.AddSender(sender)
	}
	return sender, err
}

// senderCaller calls math.add on node and checks the result (rpc), or
// sends it to node, whose queue nobody consumes (send).
func senderCaller(mode, url string, topo topology.Topology, node string, withMetrics bool) (caller, error) {
	sender, err := newSender(url, topo, withMetrics)
	if err != nil {
		return caller{}, err
	}
	target := node + ".math.add"
	params := json.RawMessage(benchParams)
	call := func(ctx context.Context) error { return sender.Send(ctx, target, params) }
	if mode == ModeRPC {
		call = func(ctx context.Context) error {
			reply, err := sender.Call(ctx, target, params)
			if err != nil {
				return err
			}
			if reply.Raw != "3" {
				return fmt.Errorf("bench: servicebus answered %q, want 3", reply.Raw)
			}
			return nil
		}
	}
	return caller{call: call, close: func() { sender.Close() }}, nil
}

// signedEnvelope is the call envelope Send publishes, with today's token:
// the floor of Send publishes the same bytes.
func signedEnvelope() ([]byte, error) {
	ev := codec.Event{Version: "1", ID: "0123456789abcdef-1", Category: "math", Service: "add", Params: benchParams}
	if _, err := benchTokens().Sign(&ev, time.Now()); err != nil {
		return nil, err
	}
	return codec.EncodeEvent(&ev), nil
}
