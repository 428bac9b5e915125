package rpc_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func TestTenThousandCallsFrom64GoroutinesAllAnsweredCorrectly(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := testkit.UniqueName("sbtest-load")
	startStandIn(t, url, node, false, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	const total, workers = 10000, 64
	var next, wrong atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				reply, err := s.Call(ctx, node+".math.add", []int64{i, 1000000})
				var sum int64
				if err == nil {
					err = reply.Decode(&sum)
				}
				if err != nil || sum != i+1000000 {
					if wrong.Add(1) == 1 {
						firstErr.Store(errors.Join(err, errors.New("wrong sum")))
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed or got a wrong result; first: %v", n, total, firstErr.Load())
	}
}

func TestCallsWaitingOnAKilledPathFailFastAndRetryable(t *testing.T) {
	url := brokertest.RequireBroker(t)
	for _, mode := range []rpc.ReplyMode{rpc.ReplyQueue, rpc.ReplyDirect} {
		t.Run(string(mode), func(t *testing.T) {
			node := testkit.UniqueName("sbtest-kill")
			agent := startStandIn(t, url, node, false, "")
			s := newSender(t, mode, token.NoTokens, url)
			if _, err := s.Ping(context.Background(), node); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			const n = 20
			errs := make(chan error, n)
			for range n {
				go func() {
					_, err := s.Call(context.Background(), node+".util.sleep", 3000)
					errs <- err
				}()
			}
			// Wait until the agent has them all, then cut the sender's connection.
			testkit.Eventually(t, 5*time.Second, "the stand-in running every call", func() bool { return sleeping(node) })
			start := time.Now()
			rpc.KillPath(s, 0, errors.New("test: kill"))
			for range n {
				err := <-errs
				if !errors.Is(err, rpc.ErrConnectionLost) || !rpc.IsRetryable(err) {
					t.Fatalf("err = %v, want retryable ErrConnectionLost", err)
				}
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("calls failed after %s, want at once", took)
			}
			// The path comes back and serves calls again; a resend-enabled
			// call survives the next kill.
			testkit.Eventually(t, 5*time.Second, "the path back", func() bool { return s.Status()[0].Ready })
			before := agent.runs("sleep")
			done := make(chan error, 1)
			go func() {
				_, err := s.CallWith(context.Background(), node+".util.sleep", 500, rpc.WithResend(1))
				done <- err
			}()
			// Kill only once the agent runs the call: its reply can then only
			// come through the resend.
			testkit.Eventually(t, 5*time.Second, "the agent running the call", func() bool { return agent.runs("sleep") == before+1 })
			rpc.KillPath(s, 0, errors.New("test: kill again"))
			if err := <-done; err != nil {
				t.Fatalf("resend-enabled call: %v", err)
			}
			if got := agent.runs("sleep") - before; got != 2 {
				t.Fatalf("the resend-enabled call ran %d times, want 2 (sent, connection lost, resent)", got)
			}
		})
	}
}

var sleepingCalls sync.Map // node -> *atomic.Int64, maintained by the stand-in

func sleeping(node string) bool {
	v, ok := sleepingCalls.Load(node)
	return ok && v.(*atomic.Int64).Load() >= 20
}
