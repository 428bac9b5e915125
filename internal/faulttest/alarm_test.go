//go:build faults

package faulttest

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// sendSeq sends payload seq to node's fault.record through s within timeout
// and returns how long it took.
func sendSeq(s *rpc.Sender, node string, seq int, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, node+".fault.record", payload{Seq: seq})
	return time.Since(start), err
}

// heapGrowthBound: see the hammering in TestSendUnderMemoryAlarmFailsByItsDeadline.
const heapGrowthBound = 256 << 10

// declareNode declares the exchange and node queue on a broker by hand, so
// that a Send is routed without an agent.
func declareNode(t *testing.T, url, node string) {
	t.Helper()
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	if err := (topology.Topology{}).DeclareNodeQueue(ch, node); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys(m map[int]bool) []int {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// queuedSeqs reads (without removing) the seqs of the messages in a queue.
func queuedSeqs(t *testing.T, url, queue string) []int {
	t.Helper()
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	var seqs []int
	for {
		d, ok, err := ch.Get(queue, false)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		ev, err := codec.DecodeEvent(d.Body, codec.Options{})
		var p payload
		if err == nil {
			err = json.Unmarshal(ev.Params, &p)
		}
		if err != nil {
			t.Fatalf("message in %s: %v", queue, err)
		}
		seqs = append(seqs, p.Seq)
	}
	sort.Ints(seqs)
	return seqs // the channel closes unacked: the messages go back
}

// A broker that blocks publishers (memory alarm): Send returns an error by
// its deadline instead of hanging, the sender's memory stays bounded, a
// second broker takes the traffic, and once the alarm clears Send works again.
func TestSendUnderMemoryAlarmFailsByItsDeadline(t *testing.T) {
	const deadline = 2 * time.Second
	log := newTestLog(t)
	a := brokertest.StartNode(t, brokertest.NodeOptions{})
	node := testkit.UniqueName("fault-alarm")
	declareNode(t, a.URL(), node)
	sender := newSender(t, log, rpc.Config{Endpoints: endpoints(0, a.URL()), CallTimeout: 10 * time.Second})
	send := func(s *rpc.Sender, seq int, timeout time.Duration) (time.Duration, error) {
		return sendSeq(s, node, seq, timeout)
	}
	if _, err := send(sender, 0, 10*time.Second); err != nil {
		t.Fatalf("Send before the alarm: %v", err)
	}

	if out, err := a.Ctl("set_vm_memory_high_watermark", "0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	alarmAt := time.Now()
	t.Cleanup(func() { _, _ = a.Ctl("set_vm_memory_high_watermark", "0.4") })
	log.printf("TEST memory alarm set")
	blockedSeen := time.Duration(0)
	waitBlocked := time.Now().Add(5 * time.Second)
	for time.Now().Before(waitBlocked) {
		if sender.Status()[0].Blocked {
			blockedSeen = time.Since(alarmAt)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	took, err := send(sender, 1, deadline)
	blockedAfter := sender.Status()[0].Blocked
	t.Logf("Send under the alarm: %v after %s; path blocked before: %v, after the publish: %v", err, took.Round(time.Millisecond), blockedSeen > 0, blockedAfter)
	if err == nil {
		t.Errorf("Send under the memory alarm succeeded")
	}
	if took > deadline+time.Second {
		t.Errorf("Send under the alarm took %s, deadline %s", took, deadline)
	}
	if err != nil && !errors.Is(err, rpc.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("note: error is neither ErrUnavailable nor DeadlineExceeded: %v", err)
	}

	// Many senders hammer the blocked broker for a while: memory and
	// goroutines must come back to where they were.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseG := ms.HeapAlloc, runtime.NumGoroutine()
	var attempts, late atomic.Int64
	var peak atomic.Uint64
	stopSample := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stopSample:
				return
			case <-time.After(100 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}()
	const hammer, each = 32, 500 * time.Millisecond
	hammerUntil := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < hammer; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for seq := 1000 * (w + 1); time.Now().Before(hammerUntil); seq++ {
				took, err := send(sender, seq, each)
				attempts.Add(1)
				if err == nil || took > each+time.Second {
					late.Add(1)
				}
				if err != nil && took < 10*time.Millisecond {
					time.Sleep(10 * time.Millisecond) // failing fast: do not spin
				}
			}
		}(w)
	}
	wg.Wait()
	close(stopSample)
	sampler.Wait()
	var settledG int
	testkit.Eventually(t, 10*time.Second, "goroutines back to the baseline", func() bool {
		settledG = runtime.NumGoroutine()
		return settledG <= baseG+2
	})
	runtime.GC()
	runtime.ReadMemStats(&ms)
	growth := int64(ms.HeapAlloc) - int64(baseHeap)
	peakGrowth := int64(peak.Load()) - int64(baseHeap)
	t.Logf("%d Sends from %d goroutines against the blocked broker: %d succeeded or overran their deadline; heap %+d KiB after (peak %+d KiB), goroutines %d -> %d",
		attempts.Load(), hammer, late.Load(), growth>>10, peakGrowth>>10, baseG, settledG)
	if late.Load() > 0 {
		t.Errorf("%d Sends succeeded or overran their deadline under the alarm", late.Load())
	}
	// Published bound (docs/reliability.md): heap growth after the
	// hammering under 256 KiB. Measured +19–51 KiB; the margin is 5× the
	// worst for what the runtime and amqp091-go keep between runs. A leak
	// of one publish buffer per failed Send would be megabytes.
	if growth > heapGrowthBound {
		t.Errorf("heap grew by %d KiB under the alarm; published bound %d KiB", growth>>10, heapGrowthBound>>10)
	}

	// A second broker takes the traffic while A blocks publishers.
	b := brokertest.StartNode(t, brokertest.NodeOptions{})
	declareNode(t, b.URL(), node)
	both := newSender(t, log, rpc.Config{Endpoints: endpoints(0, a.URL(), b.URL()), CallTimeout: 10 * time.Second})
	testkit.Eventually(t, time.Minute, "second sender connected to both", func() bool {
		return both.Status()[0].Connected && senderReady(both, 1)
	})
	viaB, err := send(both, 2, 10*time.Second)
	t.Logf("Send with A blocking and B fine: %v after %s (A blocked as the second sender sees it: %v)", err, viaB.Round(time.Millisecond), both.Status()[0].Blocked)
	if err != nil {
		t.Errorf("Send with a second broker while A blocks: %v", err)
	}

	if out, err := a.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	clearAt := time.Now()
	log.printf("TEST memory alarm cleared")
	var recovered time.Duration
	testkit.Eventually(t, 30*time.Second, "Send to A to work again", func() bool {
		if _, err := send(sender, 3, time.Second); err == nil {
			recovered = time.Since(clearAt)
			return true
		}
		return false
	})
	// Which Sends reached A's queue, failed ones included? A publish that was
	// written before the broker blocked the connection is taken once the
	// alarm clears, though its Send already failed.
	okToA := map[int]bool{0: true, 3: true}
	var onA []int
	testkit.Eventually(t, 10*time.Second, "A's queue to settle", func() bool {
		before := len(onA)
		time.Sleep(500 * time.Millisecond)
		onA = queuedSeqs(t, a.URL(), node)
		return len(onA) == before && len(onA) >= len(okToA)
	})
	var failedButDelivered []int
	for _, seq := range onA {
		if !okToA[seq] {
			failedButDelivered = append(failedButDelivered, seq)
		}
	}
	t.Logf("A's queue holds seqs %v; of these, failed Sends (or sent on through B): %v", onA, failedButDelivered)

	// A Send that fails by its deadline while its publish waits for a
	// confirm, and the alarm clears soon after (before the confirm timeout
	// drops the connection): is the message delivered all the same?
	if out, err := a.Ctl("set_vm_memory_high_watermark", "0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	failedSeqs := map[int]bool{}
	nextSeq := 4
	testkit.Eventually(t, 10*time.Second, "sender to see A blocked", func() bool {
		if _, err := send(sender, nextSeq, 200*time.Millisecond); err != nil {
			failedSeqs[nextSeq] = true
		}
		nextSeq++
		return sender.Status()[0].Blocked
	})
	if out, err := a.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Published: a Send that failed by its deadline under the alarm was
	// delivered once the alarm cleared.
	if len(failedSeqs) == 0 {
		t.Fatal("no Send failed by its deadline under the alarm: the case was not produced")
	}
	var deliveredLate []int
	for until := time.Now().Add(10 * time.Second); len(deliveredLate) == 0 && time.Now().Before(until); {
		for _, seq := range queuedSeqs(t, a.URL(), node) {
			if failedSeqs[seq] {
				deliveredLate = append(deliveredLate, seq)
			}
		}
		if len(deliveredLate) == 0 {
			time.Sleep(100 * time.Millisecond) // the next look at the queue
		}
	}
	if len(deliveredLate) == 0 {
		t.Errorf("no Send that failed under the alarm was delivered within 10 s of it clearing (failed: %v)", sortedKeys(failedSeqs))
	}
	lateDelivered := len(deliveredLate) > 0
	t.Logf("Sends %v (of %d-%d) failed by their deadline under the alarm; delivered after it cleared: %v", sortedKeys(failedSeqs), 4, nextSeq-1, deliveredLate)
	t.Logf("FIGURES alarm: delivered_though_send_failed_or_moved=%d failed_send_delivered_after_clear=%v", len(failedButDelivered), lateDelivered)
	t.Logf("FIGURES alarm: blocked_flag_before_first_publish=%v send_error_after=%s (deadline %s) hammer_sends=%d heap_growth=%dKiB peak_heap_growth=%dKiB send_via_second_broker=%s recovered_after_clear=%s",
		blockedSeen > 0, took.Round(time.Millisecond), deadline, attempts.Load(), growth>>10, peakGrowth>>10,
		viaB.Round(time.Millisecond), recovered.Round(time.Millisecond))
}

// A broker under a resource alarm stops reading a connection that published
// (connection.blocked), so a health probe on it gets no answer. That is the
// broker's choice, not a dead link: the connection must be kept (its
// heartbeats still come), or every probe interval would throw it away and
// dial again for as long as the alarm lasts. When the alarm clears, the
// same connection publishes again.
func TestBlockedConnectionIsKeptThroughAnAlarm(t *testing.T) {
	const probe = 200 * time.Millisecond
	log := newTestLog(t)
	a := brokertest.StartNode(t, brokertest.NodeOptions{})
	node := testkit.UniqueName("fault-alarm-probe")
	declareNode(t, a.URL(), node)
	sender := newSender(t, log, rpc.Config{Endpoints: endpoints(time.Second, a.URL()), CallTimeout: 10 * time.Second, ProbeInterval: probe})
	send := func(seq int, timeout time.Duration) error {
		_, err := sendSeq(sender, node, seq, timeout)
		return err
	}
	if err := send(0, 10*time.Second); err != nil {
		t.Fatalf("Send before the alarm: %v", err)
	}
	connects := sender.Status()[0].Connects

	if out, err := a.Ctl("set_vm_memory_high_watermark", "0"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = a.Ctl("set_vm_memory_high_watermark", "0.4") })
	seq := 1
	testkit.Eventually(t, 10*time.Second, "the sender's connection blocked", func() bool {
		_ = send(seq, 300*time.Millisecond) // a publish makes the broker block the connection
		seq++
		return sender.Status()[0].Blocked
	})
	// Ten probe intervals, each of which would have ended the connection.
	blockedFor := 10 * probe
	time.Sleep(blockedFor)
	st := sender.Status()[0]
	if st.Connects != connects || !st.Blocked {
		t.Errorf("after %s blocked: %d connects (%d before the alarm), blocked %v; want the same connection, still blocked",
			blockedFor, st.Connects, connects, st.Blocked)
	}

	if out, err := a.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	testkit.Eventually(t, 10*time.Second, "a Send once the alarm cleared", func() bool {
		err := send(seq, time.Second)
		seq++
		return err == nil
	})
	if st := sender.Status()[0]; st.Connects != connects {
		t.Errorf("the alarm cost %d reconnects", st.Connects-connects)
	}
}
