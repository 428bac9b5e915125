package rpc_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func newSender(t *testing.T, mode rpc.ReplyMode, signer token.Signer, urls ...string) *rpc.Sender {
	t.Helper()
	cfg := rpc.Config{Signer: signer, ReplyMode: mode, PreferPrimary: true, CallTimeout: 10 * time.Second}
	for _, u := range urls {
		cfg.Endpoints = append(cfg.Endpoints, broker.Endpoint{URL: u})
	}
	s, err := rpc.NewSender(cfg, nil)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestCallReturnsTheAgentsResult(t *testing.T) {
	url := brokertest.RequireBroker(t)
	for _, mode := range []rpc.ReplyMode{rpc.ReplyQueue, rpc.ReplyDirect} {
		t.Run(string(mode), func(t *testing.T) {
			node := testkit.UniqueName("sbtest-rpc")
			startStandIn(t, url, node, false, "")
			s := newSender(t, mode, token.NoTokens, url)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			reply, err := s.Call(ctx, node+".math.add", []int{1, 2})
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			var sum int
			if err := reply.Decode(&sum); err != nil || sum != 3 {
				t.Fatalf("reply %q: sum %d, err %v", reply.Raw, sum, err)
			}
		})
	}
}

func TestCallToUnknownNodeFailsWithErrNoRouteAtOnce(t *testing.T) {
	url := brokertest.RequireBroker(t)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	// Warm up: the first call also waits for the connection.
	node := testkit.UniqueName("sbtest-rpc")
	startStandIn(t, url, node, false, "")
	ctx := context.Background()
	if _, err := s.Call(ctx, node+".math.add", []int{1}); err != nil {
		t.Fatalf("warm-up Call: %v", err)
	}
	// "At once": the broker's basic.return, not the call timeout (10 s).
	// Measured under -race at load average 8.5 on 2 cores, 200 calls: p50
	// 1.0 ms, p99 10.7 ms, max 68 ms. Asserted: the median of 5 under
	// 100 ms (100x the measured p50, so a stalled scheduler does not fail
	// it) and every one under 1 s (a tenth of the timeout it must not wait).
	var took []time.Duration
	for range 5 {
		start := time.Now()
		_, err := s.Call(ctx, testkit.UniqueName("sbtest-nobody")+".math.add", []int{1, 2})
		took = append(took, time.Since(start))
		if !errors.Is(err, rpc.ErrNoRoute) {
			t.Fatalf("err = %v, want ErrNoRoute", err)
		}
		if rpc.IsRetryable(err) {
			t.Fatalf("ErrNoRoute must not be retryable")
		}
	}
	slices.Sort(took)
	if took[2] > 100*time.Millisecond || took[4] > time.Second {
		t.Fatalf("ErrNoRoute took %v, want a median under 100ms and none over 1s", took)
	}
}

// A sender built a moment ago is still connecting: PingAll waits for its
// brokers within the deadline instead of failing them as not ready.
func TestPingAllRightAfterNewSenderWaitsForTheConnection(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-ping")
	startStandIn(t, url, node, false, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := s.PingAll(ctx, node)
	if err != nil || res.Answered != 2 {
		t.Fatalf("PingAll right after NewSender = %d of %d answered, err %v (%+v)", res.Answered, res.Brokers, err, res.Paths)
	}
}

func TestCloseFailsWaitingCallsWithErrClosedAndIsIdempotent(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-close")
	agent := startStandIn(t, url, node, false, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	if _, err := s.Ping(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := s.Call(context.Background(), node+".util.sleep", 2000)
		errs <- err
	}()
	// The call waits for its reply once the agent runs it.
	testkit.Eventually(t, 5*time.Second, "the agent running the call", func() bool { return agent.runs("sleep") == 1 })
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("waiting call: %v, want ErrClosed", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %s", took)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(context.Background(), node+".math.add", nil); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if err := s.Send(context.Background(), node+".math.add", nil); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}
