package publish_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// On a link cut without RST the socket buffers fill long before heartbeats
// or the probe notice; a publish must still leave by its deadline, however
// many are queued behind the silent socket.
func TestPublishLeavesByItsDeadlineOnASilentLink(t *testing.T) {
	mainURL := brokertest.RequireBroker(t)
	proxy := brokertest.ProxyTo(t, mainURL)
	q := testkit.UniqueName("sbtest-silent")
	declareQueue(t, mainURL, q, nil)
	// Default heartbeat and probe: the cut is not noticed for seconds.
	p, err := publish.New(publish.Config{
		Endpoints: []broker.Endpoint{{URL: proxy.URL("guest", "guest")}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitReady(t, p, 0)

	// Bodies of 16 KiB: the largest the first version wrote on the
	// caller's goroutine, where a stalled socket held it for seconds.
	const (
		callers  = 16
		deadline = 300 * time.Millisecond
		margin   = 100 * time.Millisecond
		hardCap  = time.Second
		after    = 3 * time.Second
	)
	body := make([]byte, 16<<10)
	var sent, failed, late atomic.Int64
	var worst atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				_, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{Body: body})
				took := time.Since(start)
				cancel()
				if err == nil {
					sent.Add(1)
				} else {
					failed.Add(1)
					if !errors.Is(err, publish.ErrUnavailable) {
						t.Errorf("publish on a silent link: %v, want ErrUnavailable", err)
					}
				}
				if took > deadline+margin {
					late.Add(1)
				}
				for {
					w := worst.Load()
					if int64(took) <= w || worst.CompareAndSwap(w, int64(took)) {
						break
					}
				}
			}
		}()
	}
	waitUntilCount(t, &sent, 200)
	proxy.SetMode(brokertest.Blackhole)
	cut := time.Now()
	sentAtCut := sent.Load()
	time.AfterFunc(after, func() { close(stop) })
	wg.Wait()
	t.Logf("%d publishes confirmed before the cut, %d after, %d failed in %s after; longest %s",
		sentAtCut, sent.Load()-sentAtCut, failed.Load(), time.Since(cut).Round(time.Millisecond), time.Duration(worst.Load()))
	if failed.Load() == 0 {
		t.Fatal("no publish failed: the link was not cut")
	}
	// The bound is the deadline plus 100 ms. Two busy cores under -race
	// can delay a goroutine's wake-up past that now and then, which has
	// nothing to do with a write holding it: allow 2 % of them, never past
	// a second (a stalled write held the first version for 8 s).
	total := sent.Load() + failed.Load()
	if w := time.Duration(worst.Load()); w > hardCap {
		t.Fatalf("a publish took %s with a %s deadline", w, deadline)
	}
	if n := late.Load(); n*50 > total {
		t.Fatalf("%d of %d publishes overran their %s deadline by more than %s (longest %s)", n, total, deadline, margin, time.Duration(worst.Load()))
	}
}

func waitUntilCount(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "publishes before the cut", func() bool { return n.Load() >= want })
}
