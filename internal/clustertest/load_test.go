//go:build cluster

package clustertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// The load of the leader-kill and rolling-restart tests.
const (
	loadSends    = 3000
	loadCalls    = 1000
	loadSenders  = 8 // goroutines sending
	loadCallers  = 4 // goroutines calling
	loadDeadline = 10 * time.Second
	// recoverGoal: after a call fails, another succeeds within this.
	recoverGoal = 5 * time.Second
)

// outcome is one Send or Call.
type outcome struct {
	seq        int
	start, end time.Time
	err        error
}

// load runs loadSends Sends (message seqs firstSend...) and loadCalls Calls
// (call seqs firstCall...) against node, each with loadDeadline, spread
// evenly over `over` until fast is closed, then as fast as they go. Seq n
// goes through senders[n % len(senders)].
type load struct {
	sends, calls []outcome
	sent         atomic.Int64 // Sends finished so far
	done         chan struct{}
}

func startLoad(senders []*servicebus.Sender, node string, firstSend, firstCall int, over time.Duration, fast <-chan struct{}) *load {
	l := &load{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		var wg sync.WaitGroup
		wg.Go(func() {
			l.sends = drive(loadSenders, pace(firstSend, loadSends, over, fast), func(seq int) error {
				ctx, cancel := context.WithTimeout(context.Background(), loadDeadline)
				defer cancel()
				defer l.sent.Add(1)
				return senders[seq%len(senders)].Send(ctx, node+".work.message", payload{Seq: seq})
			})
		})
		wg.Go(func() {
			l.calls = drive(loadCallers, pace(firstCall, loadCalls, over, fast), func(seq int) error {
				_, err := call(senders[seq%len(senders)], node, seq, loadDeadline)
				return err
			})
		})
		wg.Wait()
	}()
	return l
}

// cliSends are Sends made one after another, each through a sender of its
// own (connected for it, closed after it), as `servicebus send` does, until
// stop: a new channel's first publishes to a quorum queue are what RabbitMQ
// nacks for a while after an election.
type cliSends struct {
	outs []outcome
	done chan struct{}
}

func startCLISends(cfg servicebus.Config, node string, first int, stop <-chan struct{}) *cliSends {
	c := &cliSends{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for seq := first; ; seq++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			err := func() error {
				s, err := servicebus.NewSender(cfg, nil)
				if err != nil {
					return err
				}
				defer s.Close()
				ctx, cancel := context.WithTimeout(context.Background(), loadDeadline)
				defer cancel()
				return s.Send(ctx, node+".work.message", payload{Seq: seq})
			}()
			c.outs = append(c.outs, outcome{seq: seq, start: start, end: time.Now(), err: err})
		}
	}()
	return c
}

// pace hands out n seqs from first, one every over/n, until fast is
// closed, then at once.
func pace(first, n int, over time.Duration, fast <-chan struct{}) <-chan int {
	seqs := make(chan int)
	go func() {
		defer close(seqs)
		interval := over / time.Duration(n)
		next := time.Now()
		for i := range n {
			if wait := time.Until(next); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-fast:
				}
				t.Stop()
			}
			next = next.Add(interval)
			seqs <- first + i
		}
	}()
	return seqs
}

// drive runs op on every seq over workers goroutines.
func drive(workers int, seqs <-chan int, op func(seq int) error) []outcome {
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for seq := range seqs {
				start := time.Now()
				err := op(seq)
				mu.Lock()
				out = append(out, outcome{seq: seq, start: start, end: time.Now(), err: err})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// failed are the outcomes with an error.
func failed(outs []outcome) []outcome {
	var f []outcome
	for _, o := range outs {
		if o.err != nil {
			f = append(f, o)
		}
	}
	return f
}

// slowerThan counts the outcomes that took longer than d.
func slowerThan(outs []outcome, d time.Duration) int {
	n := 0
	for _, o := range outs {
		if o.end.Sub(o.start) > d {
			n++
		}
	}
	return n
}

// slowest is the longest outcome.
func slowest(outs []outcome) time.Duration {
	var d time.Duration
	for _, o := range outs {
		d = max(d, o.end.Sub(o.start))
	}
	return d
}

// recovery is, over every failed call, the longest wait from its failure
// to the next call that succeeded.
func recovery(calls []outcome) time.Duration {
	var ok []time.Time
	for _, o := range calls {
		if o.err == nil {
			ok = append(ok, o.end)
		}
	}
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	var worst time.Duration
	for _, f := range failed(calls) {
		i, _ := slices.BinarySearchFunc(ok, f.end, func(a, b time.Time) int { return a.Compare(b) })
		if i == len(ok) {
			return time.Duration(1<<63 - 1) // never succeeded again
		}
		worst = max(worst, ok[i].Sub(f.end))
	}
	return worst
}

// errorKinds counts failures by what they match, for the figures.
func errorKinds(outs []outcome) map[string]int {
	kinds := map[string]int{}
	for _, o := range failed(outs) {
		switch {
		case errors.Is(o.err, rpc.ErrConnectionLost):
			kinds["connection_lost"]++
		case errors.Is(o.err, rpc.ErrTimeout):
			kinds["timeout"]++
		case errors.Is(o.err, rpc.ErrNoRoute):
			kinds["no_route"]++
		case errors.Is(o.err, rpc.ErrUnavailable):
			kinds["unavailable"]++
		default:
			kinds["other"]++
		}
	}
	return kinds
}

// queueConsumers is the consumer count of queue, asked of the first
// running node that answers; -1 when none does.
func queueConsumers(c *brokertest.Cluster, queue string) int {
	for _, n := range c.Running() {
		conn, err := amqp.DialConfig(n.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			continue
		}
		ch, err := conn.Channel()
		if err != nil {
			conn.Close()
			continue
		}
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		conn.Close()
		if err == nil {
			return q.Consumers
		}
	}
	return -1
}

// waitConsumers waits until queue has want consumers and returns how long
// that took; an error after timeout.
func waitConsumers(c *brokertest.Cluster, queue string, want int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		got := queueConsumers(c, queue)
		if got == want {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("queue %s has %d consumers after %s, want %d", queue, got, timeout, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
