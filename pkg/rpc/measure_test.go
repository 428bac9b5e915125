package rpc_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// TestMeasureCallAgainstPlainAMQP prints calls/s, p50 and p99 of Sender.Call
// next to a plain amqp091-go RPC client doing the same round trip to the
// same stand-in agent, at 1 and 64 concurrent callers. It runs only with
// SERVICEBUS_MEASURE=1 (a measurement, not a check):
//
//	SERVICEBUS_MEASURE=1 go test -run TestMeasureCallAgainstPlainAMQP -v ./pkg/rpc/
func TestMeasureCallAgainstPlainAMQP(t *testing.T) {
	if os.Getenv("SERVICEBUS_MEASURE") != "1" {
		t.Skip("set SERVICEBUS_MEASURE=1 to measure")
	}
	url := brokertest.RequireBroker(t)
	node := randomName("sbtest-measure")
	startStandIn(t, url, node, false, "")
	calls := 5000
	if n, err := strconv.Atoi(os.Getenv("SERVICEBUS_MEASURE_CALLS")); err == nil {
		calls = n
	}

	queue := newSender(t, rpc.ReplyQueue, codec.NoTokens, url)
	direct := newSender(t, rpc.ReplyDirect, codec.NoTokens, url)
	plain := newPlainClient(t, url, false)
	confirmed := newPlainClient(t, url, true)
	body := codec.EncodeEvent(&codec.Event{Version: "1", ID: "1", Category: "math", Service: "add", Params: []byte("[1,2]")})

	clients := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"rpc.Sender (reply queue)", func(ctx context.Context) error {
			_, err := queue.Call(ctx, node+".math.add", []int{1, 2})
			return err
		}},
		{"rpc.Sender (direct reply-to)", func(ctx context.Context) error {
			_, err := direct.Call(ctx, node+".math.add", []int{1, 2})
			return err
		}},
		{"plain amqp091-go", func(ctx context.Context) error { return plain.call(ctx, node, body) }},
		{"plain + confirm + mandatory", func(ctx context.Context) error { return confirmed.call(ctx, node, body) }},
	}
	type figure struct {
		rate     float64
		p50, p99 time.Duration
	}
	const rounds = 3
	results := map[string][]figure{}
	for _, c := range clients {
		for range 50 { // warm-up
			if err := c.call(context.Background()); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
	}
	// Clients take turns round by round, so load from the rest of the
	// machine hits them alike; the round with the median rate is reported.
	for range rounds {
		for _, conc := range []int{1, 64} {
			for _, c := range clients {
				n := calls
				if conc == 1 {
					n = calls / 4
				}
				rate, p50, p99, err := measure(n, conc, c.call)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				key := fmt.Sprintf("%-30s conc %2d", c.name, conc)
				results[key] = append(results[key], figure{rate, p50, p99})
			}
		}
	}
	for _, conc := range []int{1, 64} {
		for _, c := range clients {
			key := fmt.Sprintf("%-30s conc %2d", c.name, conc)
			fs := results[key]
			slices.SortFunc(fs, func(a, b figure) int { return int(a.rate - b.rate) })
			m := fs[len(fs)/2]
			t.Logf("%s: %7.0f calls/s  p50 %8s  p99 %8s  (median of %d rounds)", key, m.rate, m.p50.Round(time.Microsecond), m.p99.Round(time.Microsecond), rounds)
		}
	}
}

func measure(n, conc int, call func(context.Context) error) (rate float64, p50, p99 time.Duration, err error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				if err := call(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				lat[i] = time.Since(t0)
				cancel()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return 0, 0, 0, e.(error)
	}
	slices.Sort(lat)
	return float64(n) / elapsed.Seconds(), lat[n/2], lat[n*99/100], nil
}

// plainClient is the floor: the textbook amqp091-go RPC client. One
// channel, an exclusive reply queue, a correlation map; no confirms, no
// mandatory, no failover.
type plainClient struct {
	confirm bool // the same with publisher confirms and mandatory, waited one by one
	conn    *amqp.Connection
	ch      *amqp.Channel
	replyTo string
	mu      sync.Mutex
	waiting map[string]chan []byte
	seq     atomic.Uint64
	done    chan struct{}
}

func newPlainClient(t *testing.T, url string, confirm bool) *plainClient {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if confirm {
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &plainClient{confirm: confirm, conn: conn, ch: ch, replyTo: q.Name, waiting: map[string]chan []byte{}, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for d := range deliveries {
			c.mu.Lock()
			w, ok := c.waiting[d.CorrelationId]
			delete(c.waiting, d.CorrelationId)
			c.mu.Unlock()
			if ok {
				w <- d.Body
			}
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-c.done
	})
	return c
}

func (c *plainClient) call(ctx context.Context, node string, body []byte) error {
	id := strconv.FormatUint(c.seq.Add(1), 10)
	w := make(chan []byte, 1)
	c.mu.Lock()
	c.waiting[id] = w
	c.mu.Unlock()
	dc, err := c.ch.PublishWithDeferredConfirmWithContext(ctx, failover.DefaultExchange, node, c.confirm, false, amqp.Publishing{
		Body: body, ReplyTo: c.replyTo, CorrelationId: id,
	})
	if err != nil {
		return err
	}
	if c.confirm {
		if ok, err := dc.WaitContext(ctx); err != nil || !ok {
			return fmt.Errorf("plain call: confirm %v %w", ok, err)
		}
	}
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return fmt.Errorf("plain call: %w", ctx.Err())
	}
}
