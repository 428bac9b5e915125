//go:build cluster

package clustertest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// Sends and calls ride through a quorum leader killed with SIGKILL, and
// through a rolling restart of every node, under the load: 3,000
// Sends from 8 goroutines and 1,000 Calls, 10 s deadlines. No Send fails,
// every confirmed Send is handled (checked by its seq), calls fail only
// with retryable errors and succeed again within 5 s, and the agent
// consumes again through each node that comes back.
func TestClusterSendsAndCallsRideThroughLeaderKillAndRollingRestart(t *testing.T) {
	c := brokertest.StartCluster(t, brokertest.ClusterOptions{})
	node := testkit.UniqueName("clustertest-ride")
	// One agent through every node; short work, many at a time, so that
	// it keeps up with the load and calls do not wait behind sends.
	configPath := writeConfig(t, c.Hosts(), node, 16)
	book := &ledger{}
	agent := startAgents(t, 1, configPath, book, helperWorkEnv+"=2ms")[0]
	// Its consumers on the other nodes are its own, not another agent's:
	// the notices come before CONSUMING, which startAgents waited for.
	if n := agent.competing.Load(); n > 0 {
		t.Errorf("one agent through every node logged %d competing-consumers notices: it took its own consumers on the other nodes for another agent's", n)
	}
	consumers := len(c.Nodes()) // one consumer through each node
	if _, err := waitConsumers(c, node, consumers, time.Minute); err != nil {
		t.Fatal(err)
	}
	sender := newSender(t, configPath)
	cfg, err := loadConfig(configPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(sender, node, 0, loadDeadline); err != nil {
		t.Fatalf("first call: %v", err)
	}
	t.Cleanup(func() {
		if bad := book.badLines(); len(bad) > 0 {
			t.Errorf("agents printed lines the test cannot read: %v", bad)
		}
	})

	t.Run("quorum leader killed", func(t *testing.T) {
		leader := c.WaitQuorumLeader(t, node, 30*time.Second)
		// Half the load through a sender whose first host is the leader
		// (its connection dies with it), half through one whose first
		// host is a follower (its publishes wait for the election).
		li := c.Index(leader)
		hosts := c.Hosts()
		senders := []*servicebus.Sender{
			newSender(t, writeConfig(t, slices.Concat(hosts[li:], hosts[:li]), node, 16)),
			newSender(t, writeConfig(t, slices.Concat(hosts[li+1:], hosts[:li+1]), node, 16)),
		}
		fast := make(chan struct{})
		l := startLoad(senders, node, 1, 1, 15*time.Second, fast)
		stopCLI := make(chan struct{})
		cli := startCLISends(cfg, node, cliSeqs, stopCLI)
		for l.sent.Load() < loadSends/4 {
			time.Sleep(10 * time.Millisecond)
		}
		killAt := time.Now()
		leader.Kill(t)
		next := c.WaitQuorumLeader(t, node, time.Minute, leader)
		elected := time.Since(killAt)
		restartAt := time.Now()
		leader.Start(t)
		c.WaitRunningMembers(t, 2*time.Minute)
		memberAgain := time.Since(restartAt)
		consumingAgain, err := waitConsumers(c, node, consumers, time.Minute)
		consumingAgain += memberAgain
		close(fast)
		<-l.done
		close(stopCLI)
		<-cli.done
		if err != nil {
			t.Errorf("the agent does not consume through the restarted node: %v", err)
		}
		checkLoad(t, book, l, 1, 1)
		checkCLISends(t, book, cli)
		t.Logf("FIGURES cluster-leader-kill: killed=%s new_leader=%s found_after=%s restarted_member_after=%s agent_consuming_through_it_after=%s %s %s",
			leader.Name(), next.Name(), elected.Round(time.Millisecond),
			memberAgain.Round(time.Millisecond), consumingAgain.Round(time.Millisecond), loadFigures(book, l, 1, 1), cliFigures(cli))
	})

	t.Run("rolling restart of every node", func(t *testing.T) {
		fast := make(chan struct{})
		first := loadSends + 1
		firstCall := loadCalls + 1
		// Paced over 90 s so that it outlasts three restarts (9-12 s each
		// at best, 14-19 s each on a busy machine: 45 s was too short once);
		// the rest goes at full speed once the restarts are done (fast).
		l := startLoad([]*servicebus.Sender{sender}, node, first, firstCall, 90*time.Second, fast)
		stopCLI := make(chan struct{})
		cli := startCLISends(cfg, node, 2*cliSeqs, stopCLI)
		var steps []string
		start := time.Now()
		for i, n := range c.Nodes() {
			restartAt := time.Now()
			c.Restart(t, n)
			member := time.Since(restartAt)
			consuming, err := waitConsumers(c, node, consumers, time.Minute)
			if err != nil {
				t.Errorf("after restarting node %d: %v", i, err)
			}
			steps = append(steps, fmt.Sprintf("node%d=%s+%s", i, member.Round(time.Millisecond), consuming.Round(time.Millisecond)))
		}
		restarts := time.Since(start)
		underLoad := l.sent.Load() < loadSends
		close(fast)
		<-l.done
		close(stopCLI)
		<-cli.done
		if !underLoad {
			t.Errorf("the load ended before the last restart (%s): not a restart under load", restarts.Round(time.Millisecond))
		}
		checkLoad(t, book, l, first, firstCall)
		checkCLISends(t, book, cli)
		t.Logf("FIGURES cluster-rolling-restart: restarts_took=%s restart+consuming_again=%v %s %s",
			restarts.Round(time.Millisecond), steps, loadFigures(book, l, first, firstCall), cliFigures(cli))
	})
}

// checkLoad asserts the bounds on one run of the load.
func checkLoad(t *testing.T, book *ledger, l *load, firstSend, firstCall int) {
	t.Helper()
	if f := failed(l.sends); len(f) > 0 {
		t.Errorf("%d of %d sends failed, first: seq %d after %s: %v", len(f), loadSends, f[0].seq, f[0].end.Sub(f[0].start).Round(time.Millisecond), f[0].err)
	}
	msgs := book.waitDone("message", firstSend, firstSend+loadSends-1, time.Minute)
	var lost []int
	for _, o := range l.sends {
		if o.err == nil && len(msgs.done[o.seq]) == 0 {
			lost = append(lost, o.seq)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d confirmed sends never handled a minute later: %v", len(lost), lost)
	}
	for _, f := range failed(l.calls) {
		if !rpc.IsRetryable(f.err) {
			t.Errorf("call %d failed with an error that is not retryable after %s: %v", f.seq, f.end.Sub(f.start).Round(time.Millisecond), f.err)
		}
	}
	if r := recovery(l.calls); r > recoverGoal {
		t.Errorf("calls succeeded again only %s after a failure (goal %s)", r, recoverGoal)
	}
}

// cliSeqs is where the message seqs of each phase's CLI-like sends start.
const cliSeqs = 100_000

// checkCLISends asserts what a CLI-like send may do: succeed, and then be
// handled, or ride the broker's refusals until its deadline and fail then
// with a retryable error, nothing delivered or maybe delivered (RabbitMQ
// 3.10 nacks a new channel's publishes to a quorum queue until the queue's
// record names the new leader, which can take seconds, see
// docs/cluster.md). It never fails early.
func checkCLISends(t *testing.T, book *ledger, cli *cliSends) {
	t.Helper()
	msgs := tallyOf(book.snapshot(), "message")
	for _, o := range cli.outs {
		if o.err != nil {
			if took := o.end.Sub(o.start); !rpc.IsRetryable(o.err) || took < loadDeadline-200*time.Millisecond {
				t.Errorf("CLI-like send %d failed after %s: %v", o.seq, took.Round(time.Millisecond), o.err)
			}
			continue
		}
		for deadline := time.Now().Add(time.Minute); len(msgs.done[o.seq]) == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			msgs = tallyOf(book.snapshot(), "message")
		}
		if len(msgs.done[o.seq]) == 0 {
			t.Errorf("CLI-like send %d confirmed and never handled", o.seq)
		}
	}
}

func cliFigures(cli *cliSends) string {
	return fmt.Sprintf("cli_sends=%d failed=%d slowest=%s", len(cli.outs), len(failed(cli.outs)), slowest(cli.outs).Round(time.Millisecond))
}

// loadFigures sums up one run of the load for the FIGURES line.
func loadFigures(book *ledger, l *load, firstSend, firstCall int) string {
	msgs := tallyOf(book.snapshot(), "message")
	handled, unique := 0, 0
	for seq := firstSend; seq < firstSend+loadSends; seq++ {
		handled += len(msgs.done[seq])
		if len(msgs.done[seq]) > 0 {
			unique++
		}
	}
	lost := 0
	for _, o := range l.sends {
		if o.err == nil && len(msgs.done[o.seq]) == 0 {
			lost++
		}
	}
	return fmt.Sprintf("sends=%d failed=%d lost=%d duplicates=%d over_250ms=%d slowest_send=%s calls=%d failed=%d %v slowest_call=%s calls_ok_again_within=%s",
		loadSends, len(failed(l.sends)), lost, handled-unique, slowerThan(l.sends, 250*time.Millisecond), slowest(l.sends).Round(time.Millisecond),
		loadCalls, len(failed(l.calls)), errorKinds(l.calls), slowest(l.calls).Round(time.Millisecond), recovery(l.calls).Round(time.Millisecond))
}
