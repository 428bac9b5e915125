//go:build cluster

package clustertest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
)

// reconsumeGoal is the bound from a deleted node queue to an agent
// consuming it again.
const reconsumeGoal = 2 * time.Second

// defaultDeleteRounds is how many times CI deletes the node queue under the
// agents; SERVICEBUS_DELETE_ROUNDS asks for more by hand.
const defaultDeleteRounds = 10

func deleteRounds(t *testing.T) int {
	v := os.Getenv("SERVICEBUS_DELETE_ROUNDS")
	if v == "" {
		return defaultDeleteRounds
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("SERVICEBUS_DELETE_ROUNDS=%q: want a whole number of rounds, at least 1", v)
	}
	return n
}

// testQueueDeleted deletes the node queue on the cluster under running
// agents, each consuming on every node: every consumer is cancelled at once,
// and the agents declare the quorum queue again, with a replica on every
// node, and consume it. consumers is how many there were before. It
// reports whether the test has not failed (rounds stop at the first
// failure).
func testQueueDeleted(t *testing.T, c *brokertest.Cluster, node string, sender *servicebus.Sender, consumers int) bool {
	t.Helper()
	conn, err := amqp.Dial(c.Node(0).URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A passive declare of a missing queue closes its channel: one channel a try.
	count := func() int {
		ch, err := conn.Channel()
		if err != nil {
			return -1
		}
		defer ch.Close()
		q, err := ch.QueueDeclarePassive(node, true, false, false, false, nil)
		if err != nil {
			return -1
		}
		return q.Consumers
	}
	if n := count(); n != consumers {
		t.Fatalf("%d consumers before the delete, want %d", n, consumers)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deletedAt := time.Now()
	if _, err := ch.QueueDelete(node, false, false, false); err != nil {
		t.Fatalf("delete node queue: %v", err)
	}
	// Calls from the moment of the delete: until the queue is back they
	// must fail at once with ErrNoRoute (no queue bound on any node).
	var served time.Duration
	var noRoute int
	var unexpected []error
	var lastErr error
	calls := make(chan struct{})
	go func() {
		defer close(calls)
		for time.Since(deletedAt) < time.Minute {
			_, err := call(sender, node, 0, 2*time.Second)
			if err == nil {
				served = time.Since(deletedAt)
				return
			}
			lastErr = err
			if errors.Is(err, servicebus.ErrNoRoute) {
				noRoute++
			} else {
				unexpected = append(unexpected, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var first, all time.Duration
	// The counts seen and when, for a failure's message.
	var seen []string
	last := consumers
	for all == 0 {
		n := count()
		if n != last {
			seen = append(seen, fmt.Sprintf("%d@%s", n, time.Since(deletedAt).Round(time.Millisecond)))
			last = n
		}
		if first == 0 && n > 0 {
			first = time.Since(deletedAt)
		}
		if n == consumers {
			all = time.Since(deletedAt)
		}
		if time.Since(deletedAt) > time.Minute {
			<-calls
			t.Fatalf("a minute after the delete: %d consumers, want %d (first consumer after %s; a call served after %s; %d calls failed with ErrNoRoute, %d otherwise; last call error: %v; consumers seen: %v)",
				n, consumers, first, served, noRoute, len(unexpected), lastErr, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	<-calls
	if served == 0 {
		t.Fatalf("no call served a minute after the delete, though all %d consumers were back after %s (%d calls failed with ErrNoRoute, %d otherwise; last call error: %v)",
			consumers, all, noRoute, len(unexpected), lastErr)
	}
	if len(unexpected) > 0 {
		t.Errorf("%d calls after the delete failed otherwise than with ErrNoRoute: %v", len(unexpected), unexpected)
	}
	members, err := c.QuorumMembers(node)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURES cluster-queue-deleted: first_consumer_after=%s all_%d_consumers_after=%s call_served_after=%s calls_no_route_meanwhile=%d replicas=%d",
		first.Round(time.Millisecond), consumers, all.Round(time.Millisecond), served.Round(time.Millisecond), noRoute, len(members))
	if first > reconsumeGoal {
		t.Errorf("node queue consumed again %s after the delete; goal %s", first, reconsumeGoal)
	}
	if len(members) != len(c.Nodes()) {
		t.Errorf("node queue declared again with %d replicas, want %d", len(members), len(c.Nodes()))
	}
	return !t.Failed()
}
