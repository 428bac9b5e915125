//go:build faults

package faulttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// The bounds published in docs/reliability.md for noticing a cut: the
// measured figure plus a margin for -race on two busy cores. Heartbeat and
// probe at 1 s: measured 1.51–1.52 s, bound 2.5 s (1 s margin: one more
// probe period). Probe alone: measured 2.0 s, bound 3 s (the same margin).
// RST: measured 21 ms, bound 1 s.
const (
	noticeBoundHeartbeatAndProbe = 2500 * time.Millisecond
	noticeBoundProbeAlone        = 3 * time.Second
	noticeBoundReset             = time.Second
)

// The link to broker A is cut without RST (the proxy goes silent). The agent
// and the sender notice within the published bound, a call in flight on A
// fails retryable and no call started after the notice fails (calls move to
// B), and once the link heals
// the agent consumes on A again. Once with heartbeat and probe at 1 s, once
// with the probe alone (heartbeat 60 s), which proves the health probe, and
// once with a loud failure (RST) and default settings for comparison.
func TestNetworkCutIsNoticedAndHealed(t *testing.T) {
	a := brokertest.StartNode(t, brokertest.NodeOptions{})
	b := brokertest.StartNode(t, brokertest.NodeOptions{})
	for _, tc := range []struct {
		name             string
		mode             brokertest.Mode
		heartbeat, probe time.Duration
		noticeBound      time.Duration
	}{
		{"heartbeat and probe 1s", brokertest.Blackhole, time.Second, time.Second, noticeBoundHeartbeatAndProbe},
		{"probe 1s alone", brokertest.Blackhole, time.Minute, time.Second, noticeBoundProbeAlone},
		// For comparison: a link that fails loudly (RST) is noticed at once.
		{"reset, defaults", brokertest.Reset, 0, 0, noticeBoundReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testNetworkCut(t, tc.name, tc.mode, a, b, tc.heartbeat, tc.probe, tc.noticeBound)
		})
	}
}

func testNetworkCut(t *testing.T, name string, mode brokertest.Mode, a, b *brokertest.Node, heartbeat, probe, noticeBound time.Duration) {
	log := newTestLog(t)
	p := brokertest.NewProxy(t, fmt.Sprintf("127.0.0.1:%d", a.Port()))
	viaProxy, viaB := brokerOf(p.URL("guest", "guest")), brokerOf(b.URL())
	node := testkit.UniqueName("fault-cut")
	agent := startAgent(t, log, router.Config{
		Endpoints: endpoints(heartbeat, p.URL("guest", "guest"), b.URL()), NodeName: node, ProbeInterval: probe,
	}, func(ag *router.Agent) {
		ag.AddRPCService("fault", "where", func(ctx context.Context, req *router.Request) (any, error) {
			return req.Meta.Broker, nil
		})
	})
	sender := newSender(t, log, rpc.Config{
		Endpoints: endpoints(heartbeat, p.URL("guest", "guest"), b.URL()), ProbeInterval: probe, CallTimeout: 3 * time.Second,
	})
	testkit.Eventually(t, time.Minute, "agent consuming on both brokers and sender on both", func() bool {
		return agent.Consuming() == 2 && senderReady(sender, 0) && senderReady(sender, 1)
	})
	if got, err := servedVia(sender, node+".fault.where", 10*time.Second); err != nil || got != viaProxy {
		t.Fatalf("call before the cut: served via %q, %v; want via the proxy %q", got, err, viaProxy)
	}

	// Calls every 50 ms through the cut and the heal.
	type callOut struct {
		start, end time.Time
		broker     string
		err        error
	}
	var (
		mu    sync.Mutex
		calls []callOut
	)
	stop := make(chan struct{})
	var stopOnce sync.Once
	var loop sync.WaitGroup
	loop.Add(1)
	go func() {
		defer loop.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			c := callOut{start: time.Now()}
			c.broker, c.err = servedVia(sender, node+".fault.where", 3*time.Second)
			c.end = time.Now()
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		}
	}()
	stopCalls := func() { stopOnce.Do(func() { close(stop) }); loop.Wait() }
	defer stopCalls()

	cutAt := time.Now()
	p.SetMode(mode)
	log.printf("TEST link to A cut (%s)", mode)
	var agentNoticed, senderNoticed, pathUnhealthy time.Duration
	testkit.Eventually(t, 20*time.Second, "agent and sender to notice the cut", func() bool {
		if pathUnhealthy == 0 && !healthy(sender.Status()[0]) {
			pathUnhealthy = time.Since(cutAt)
		}
		if agentNoticed == 0 && agent.Consuming() == 1 {
			agentNoticed = time.Since(cutAt)
		}
		if senderNoticed == 0 && !senderReady(sender, 0) {
			senderNoticed = time.Since(cutAt)
		}
		return agentNoticed > 0 && senderNoticed > 0
	})
	var failedOver time.Duration
	testkit.Eventually(t, 20*time.Second, "a call started after the cut served through B", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range calls {
			if c.err == nil && c.start.After(cutAt) && c.broker == viaB {
				failedOver = c.end.Sub(cutAt)
				return true
			}
		}
		return false
	})

	healAt := time.Now()
	p.SetMode(brokertest.Pass)
	log.printf("TEST link to A healed")
	var agentBack, senderBack time.Duration
	testkit.Eventually(t, 30*time.Second, "agent consuming on A again and sender ready on A", func() bool {
		if agentBack == 0 && agent.Consuming() == 2 {
			agentBack = time.Since(healAt)
		}
		if senderBack == 0 && senderReady(sender, 0) {
			senderBack = time.Since(healAt)
		}
		return agentBack > 0 && senderBack > 0
	})
	// Only the agent's consumer on A can answer a sender that knows only A.
	direct := newSender(t, log, rpc.Config{Endpoints: endpoints(0, a.URL())})
	got, err := servedVia(direct, node+".fault.where", 10*time.Second)
	if err != nil || got != viaProxy {
		t.Errorf("call published on A after the heal: served via %q, %v; want the agent's path through the proxy", got, err)
	}
	stopCalls()

	// A call in flight on A when the link went silent fails with the
	// connection, retryable (ErrConnectionLost: it may have run); every call
	// started once the cut was noticed goes through B and succeeds.
	noticedAt := cutAt.Add(max(agentNoticed, senderNoticed))
	failed, failedWhileCut, failedAfterNotice, notRetryable := 0, 0, 0, 0
	var maxHang time.Duration
	for _, c := range calls {
		if c.err != nil {
			failed++
			if c.start.Before(healAt) {
				failedWhileCut++
			}
			if !c.start.Before(noticedAt) {
				failedAfterNotice++
			}
			if !rpc.IsRetryable(c.err) {
				notRetryable++
			}
			if failed <= 5 {
				t.Logf("call at %s failed after %s: %v", c.start.Sub(cutAt).Round(time.Millisecond), c.end.Sub(c.start).Round(time.Millisecond), c.err)
			}
		}
		if c.end.Sub(c.start) > maxHang {
			maxHang = c.end.Sub(c.start)
		}
	}
	t.Logf("cut noticed: sender's path unhealthy %s; agent stopped consuming %s, sender's publisher off A %s; first call served through B %s after the cut", pathUnhealthy.Round(time.Millisecond), agentNoticed.Round(time.Millisecond), senderNoticed.Round(time.Millisecond), failedOver.Round(time.Millisecond))
	t.Logf("after the heal: agent consuming on A in %s, sender ready on A in %s; %d calls, %d failed, longest call %s",
		agentBack.Round(time.Millisecond), senderBack.Round(time.Millisecond), len(calls), failed, maxHang.Round(time.Millisecond))
	t.Logf("FIGURES netcut (%s): sender_path_unhealthy=%s agent_noticed=%s sender_noticed=%s failover_first_call_via_B=%s heal_to_agent_consuming=%s heal_to_sender_ready=%s calls=%d failed=%d", name, pathUnhealthy.Round(time.Millisecond),
		agentNoticed.Round(time.Millisecond), senderNoticed.Round(time.Millisecond), failedOver.Round(time.Millisecond),
		agentBack.Round(time.Millisecond), senderBack.Round(time.Millisecond), len(calls), failed)
	if agentNoticed > noticeBound {
		t.Errorf("agent noticed the cut after %s, published bound %s", agentNoticed, noticeBound)
	}
	if senderNoticed > noticeBound {
		t.Errorf("sender noticed the cut after %s, published bound %s", senderNoticed, noticeBound)
	}
	if failedAfterNotice > 0 || notRetryable > 0 {
		t.Errorf("of %d calls, %d failed (%d while the link was cut): %d started after the cut was noticed, %d not retryable; published: 0 and 0",
			len(calls), failed, failedWhileCut, failedAfterNotice, notRetryable)
	}
}
