//go:build faults

package faulttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// reconsumeGoal is the bound from a deleted node queue to the agent
// consuming it again.
const reconsumeGoal = 2 * time.Second

// The node queue is deleted on broker A under a running agent that consumes
// on A and B: the agent declares it again and consumes within 2 s, and calls
// through B go on undisturbed.
func TestAgentDeclaresItsDeletedQueueAgain(t *testing.T) {
	shared := brokertest.RequireBroker(t)
	a := brokertest.StartNode(t, brokertest.NodeOptions{})
	for _, topo := range []topology.Topology{
		{Kind: topology.Compat},
		// Durable topology must not share an exchange name with compat.
		{Kind: topology.Durable, Exchange: testkit.UniqueName("sb-durable")},
	} {
		t.Run(string(topo.Kind), func(t *testing.T) { testQueueDeleted(t, a.URL(), shared, topo) })
	}
}

func testQueueDeleted(t *testing.T, urlA, urlB string, topo topology.Topology) {
	log := newTestLog(t)
	node := testkit.UniqueName("fault-qdelete")
	testkit.DeleteQueues(t, urlB, node, node+".dead")
	if topo.Kind == topology.Durable {
		testkit.DeleteExchanges(t, urlB, topo.ExchangeName(), topo.DeadLetterExchange())
	}
	agent := startAgent(t, log, router.Config{Endpoints: endpoints(0, urlA, urlB), NodeName: node, Topology: topo}, func(ag *router.Agent) {
		ag.AddRPCService("fault", "echo", func(ctx context.Context, req *router.Request) (any, error) {
			return req.Meta.Broker, nil
		})
	})
	testkit.Eventually(t, time.Minute, "agent consuming on both brokers", func() bool { return agent.Consuming() == 2 })
	senderA := newSender(t, log, rpc.Config{Endpoints: endpoints(0, urlA), Topology: topo})
	senderB := newSender(t, log, rpc.Config{Endpoints: endpoints(0, urlB), Topology: topo})
	for _, s := range []*rpc.Sender{senderA, senderB} {
		if _, err := servedVia(s, node+".fault.echo", 10*time.Second); err != nil {
			t.Fatalf("call before the delete: %v", err)
		}
	}

	// Calls through B run all along, from before the delete to after A is
	// consumed again.
	stopB := make(chan struct{})
	var outsB []outcome
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := 1; ; seq++ {
			select {
			case <-stopB:
				return
			default:
			}
			o := outcome{seq: seq, start: time.Now()}
			var broker string
			broker, o.err = servedVia(senderB, node+".fault.echo", 5*time.Second)
			if o.err == nil && broker != brokerOf(urlB) {
				t.Errorf("call through B answered from %q", broker)
			}
			o.end = time.Now()
			outsB = append(outsB, o)
			time.Sleep(5 * time.Millisecond)
		}
	})
	time.Sleep(300 * time.Millisecond) // calls through B before the delete

	conn, ch := testkit.Dial(t, urlA)
	defer conn.Close()
	deletedAt := time.Now()
	if _, err := ch.QueueDelete(node, false, false, false); err != nil {
		t.Fatalf("delete node queue on A: %v", err)
	}
	log.printf("TEST node queue deleted on A")
	// Calls through A from the moment of the delete: until the queue is
	// back they must fail at once with ErrNoRoute.
	var servedA time.Duration
	var noRoute int
	var unexpected []error
	callsA := make(chan struct{})
	go func() {
		defer close(callsA)
		for time.Since(deletedAt) < 30*time.Second {
			broker, err := servedVia(senderA, node+".fault.echo", 2*time.Second)
			switch {
			case err == nil && broker == brokerOf(urlA):
				servedA = time.Since(deletedAt)
				return
			case errors.Is(err, rpc.ErrNoRoute):
				noRoute++
			default:
				unexpected = append(unexpected, fmt.Errorf("answered from %q: %w", broker, err))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// A passive declare of a missing queue closes its channel: one channel a try.
	consumed := func() bool {
		ch, err := conn.Channel()
		if err != nil {
			return false
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(node, true, false, false, false, nil)
		return err == nil && q.Consumers > 0
	}
	var reconsumed time.Duration
	for {
		if consumed() {
			reconsumed = time.Since(deletedAt)
			break
		}
		if time.Since(deletedAt) > 30*time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-callsA
	if reconsumed == 0 || servedA == 0 {
		close(stopB)
		wg.Wait()
		t.Fatalf("30 s after the delete: node queue on A consumed again after %s, call through A served after %s (0: never)", reconsumed, servedA)
	}
	if len(unexpected) > 0 {
		t.Errorf("%d calls through A after the delete failed otherwise than with ErrNoRoute: %v", len(unexpected), unexpected)
	}
	time.Sleep(300 * time.Millisecond) // calls through B after A is back
	close(stopB)
	wg.Wait()

	failedB := 0
	for _, o := range outsB {
		if o.err != nil {
			failedB++
			t.Errorf("call %d through B failed: %v", o.seq, o.err)
		}
	}
	gapB, _ := longestGap(outsB, outsB[0].start, outsB[len(outsB)-1].end)
	t.Logf("FIGURES queue-deleted-%s: reconsumed_after=%s call_via_A_served_after=%s calls_via_A_no_route_meanwhile=%d calls_via_B=%d failed=%d longest_gap_B=%s goal_2s=%s",
		topo.Kind, reconsumed.Round(time.Millisecond), servedA.Round(time.Millisecond), noRoute, len(outsB), failedB, gapB.Round(time.Millisecond), met(reconsumed <= reconsumeGoal))
	if reconsumed > reconsumeGoal {
		t.Errorf("node queue consumed again %s after the delete; goal %s", reconsumed, reconsumeGoal)
	}
	if agent.Consuming() != 2 {
		t.Errorf("agent consumes on %d brokers after the delete, want 2", agent.Consuming())
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// deleteExchanges removes exchanges the test declared on the shared broker.
