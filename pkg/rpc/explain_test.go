package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// silentConsumer consumes node's queue with the given prefetch (0: no limit)
// and never acks or answers, as an agent that hangs does.
func silentConsumer(t *testing.T, url, node string, prefetch int) {
	t.Helper()
	ch := testkit.Channel(t, url)
	if err := ch.Qos(prefetch, 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.Consume(node, "", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
}

// publishFiller puts n messages without expiration on node's queue.
func publishFiller(t *testing.T, url, node string, n int) {
	t.Helper()
	ch := testkit.Channel(t, url)
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	for range n {
		dc, err := ch.PublishWithDeferredConfirm("", node, true, false, amqp.Publishing{Body: []byte("filler")})
		if err != nil {
			t.Fatal(err)
		}
		if !dc.Wait() {
			t.Fatal("filler nacked")
		}
	}
}

// waitQueue waits until cond holds on node's queue (consumers, ready).
func waitQueue(t *testing.T, url, node string, cond func(consumers, ready int) bool) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "queue "+node+" in the wanted state", func() bool {
		c, r, err := testkit.QueueState(url, node)
		return err == nil && cond(c, r)
	})
}

// A timed-out call says why, from a passive declare of the node's queue, and
// still matches ErrTimeout and context.DeadlineExceeded.
func TestCallTimeoutExplainsWhatTheNodeQueueShows(t *testing.T) {
	url := brokertest.RequireBroker(t)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, node string)
		want  string
	}{
		// The expired call itself may still be counted as waiting.
		{"no consumer", func(t *testing.T, node string) {}, "has no consumer"},
		{"agent behind", func(t *testing.T, node string) {
			// The agent holds one message unacked (prefetch 1); two wait behind it.
			publishFiller(t, url, node, 3)
			silentConsumer(t, url, node, 1)
			waitQueue(t, url, node, func(c, r int) bool { return c == 1 && r == 2 })
		}, "messages waiting in queue"},
		{"agent took it", func(t *testing.T, node string) {
			silentConsumer(t, url, node, 0)
			waitQueue(t, url, node, func(c, r int) bool { return c == 1 })
		}, "the agent took the call but did not answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := testkit.UniqueName("sbtest-explain")
			declareNodeQueue(t, url, node)
			tc.setup(t, node)
			// The look at the queue is best effort, bounded to a few tens
			// of milliseconds past the deadline: a loaded machine may miss
			// it once; three calls in a row may not.
			var err error
			var took time.Duration
			for range 3 {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				start := time.Now()
				_, err = s.Call(ctx, node+".math.add", []int{1, 2})
				took = time.Since(start)
				cancel()
				t.Log(err)
				if strings.Contains(err.Error(), "queue "+node) {
					break
				}
			}
			if !errors.Is(err, rpc.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "queue "+node) {
				t.Errorf("err = %v, want it to name %s and say %q", err, node, tc.want)
			}
			if tc.name == "no consumer" && !strings.Contains(err.Error(), "is its agent running?") {
				t.Errorf("err = %v, want the question whether the agent runs", err)
			}
			// The look at the queue is bounded (inspectTimeout past the deadline).
			if took > 500*time.Millisecond+time.Second {
				t.Errorf("the timed-out call took %s", took)
			}
		})
	}
}

// Only timeouts are explained: a call that fails otherwise does not inspect.
func TestOnlyTimeoutsAreExplained(t *testing.T) {
	url := brokertest.RequireBroker(t)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	_, err := s.Call(context.Background(), testkit.UniqueName("sbtest-nobody")+".math.add", 1)
	if !errors.Is(err, rpc.ErrNoRoute) || strings.Contains(err.Error(), "consumer") {
		t.Fatalf("err = %v, want a plain ErrNoRoute", err)
	}
}
