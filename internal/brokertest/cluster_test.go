//go:build cluster

package brokertest

import (
	"context"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// One cluster for the whole test: forming one costs tens of seconds.
func TestClusterElectsANewLeaderAndTakesBackKilledAndRestartedNodes(t *testing.T) {
	c := StartCluster(t, ClusterOptions{})
	if len(c.Nodes()) != DefaultClusterSize {
		t.Fatalf("%d nodes, want %d", len(c.Nodes()), DefaultClusterSize)
	}
	ports := map[int]bool{}
	for _, n := range c.Nodes() {
		if n.Port() == 5672 || ports[n.Port()] || !n.Running() {
			t.Fatalf("node %s: port %d taken twice, the system node's, or not running", n.Name(), n.Port())
		}
		ports[n.Port()] = true
	}
	got, err := c.RunningMembers()
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedCopy(c.Names()); !slices.Equal(got, want) {
		t.Fatalf("running members %v, want %v", got, want)
	}

	queue := "brokertest-qq-" + randomHex(4)
	// Declared through the second node: the queue is the cluster's, not a node's.
	publish(t, c.Node(1).URL(), queue, "before the kill", "after the restart")
	members, err := c.QuorumMembers(queue)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != len(c.Nodes()) {
		t.Fatalf("quorum queue members %d, want one replica on each of %d nodes", len(members), len(c.Nodes()))
	}
	leader := c.WaitQuorumLeader(t, queue, 30*time.Second)
	t.Logf("leader of %s: %s (node %d)", queue, leader.Name(), c.Index(leader))

	t.Run("kill the leader: another node leads and serves the queue", func(t *testing.T) {
		killAt := time.Now()
		leader.Kill(t)
		if leader.Running() {
			t.Fatal("leader still running after Kill")
		}
		next := c.WaitQuorumLeader(t, queue, time.Minute, leader)
		elected := time.Since(killAt)
		c.WaitRunningMembers(t, time.Minute)
		if body := get(t, next.URL(), queue); body != "before the kill" {
			t.Fatalf("first message %q", body)
		}
		t.Logf("FIGURES cluster-leader-kill: new_leader=%s found_after=%s", next.Name(), elected.Round(time.Millisecond))
	})

	t.Run("the killed node restarts and rejoins with its replica", func(t *testing.T) {
		start := time.Now()
		c.Restart(t, leader)
		t.Logf("FIGURES cluster-restart-killed-node: member_again_after=%s", time.Since(start).Round(time.Millisecond))
		waitMembersUp(t, c, queue)
		if body := get(t, leader.URL(), queue); body != "after the restart" {
			t.Fatalf("second message through the restarted node: %q", body)
		}
	})

	t.Run("clean restart of a running node", func(t *testing.T) {
		follower := c.Node(0)
		if follower == leader {
			follower = c.Node(1)
		}
		start := time.Now()
		c.Restart(t, follower)
		t.Logf("FIGURES cluster-restart-running-node: member_again_after=%s", time.Since(start).Round(time.Millisecond))
		got, err := c.RunningMembers()
		if err != nil || !slices.Equal(got, sortedCopy(c.Names())) {
			t.Fatalf("running members %v (%v), want all of %v", got, err, c.Names())
		}
		waitMembersUp(t, c, queue)
		c.WaitQuorumLeader(t, queue, 30*time.Second)
	})
}

// waitMembersUp waits until every replica of queue answers as leader or follower.
func waitMembersUp(t *testing.T, c *Cluster, queue string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		members, err := c.QuorumStatus(queue)
		up := 0
		for _, m := range members {
			if m.State == "leader" || m.State == "follower" {
				up++
			}
		}
		if err == nil && up == len(c.Nodes()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas of %s not all up within a minute: %+v %v", queue, members, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publish declares quorum queue queue and publishes bodies to it, persistent
// and confirmed.
func publish(t *testing.T, url, queue string, bodies ...string) {
	t.Helper()
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	if _, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range bodies {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false,
			amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(b)})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := dc.WaitContext(ctx); !ok || err != nil {
			t.Fatalf("confirm of %q: %v %v", b, ok, err)
		}
	}
}

// get takes one message off queue through url.
func get(t *testing.T, url, queue string) string {
	t.Helper()
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	msg, ok, err := ch.Get(queue, true)
	if err != nil || !ok {
		t.Fatalf("get from %s: ok=%v err=%v", queue, ok, err)
	}
	return string(msg.Body)
}
