package failover_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// Many goroutines publish while the first publisher fails now and then and
// the Wrapper is closed in the middle: every Publish that returned nil was
// taken by exactly one publisher, nothing else was, and nothing races
// (run with -race).
func TestWrapperIsSafeForConcurrentUse(t *testing.T) {
	flaky := func(m *message.Message) error {
		h := fnv.New32a()
		h.Write([]byte(m.UUID))
		if h.Sum32()%3 == 0 {
			return errors.New("flaky")
		}
		return nil
	}
	a, b := newFake(flaky), newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), Backoff: broker.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
	const workers, each = 16, 200
	var mu sync.Mutex
	ok := map[string]bool{}
	refused := 0
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("g%d-%d", g, i)
				err := w.Publish("n", msg(id))
				mu.Lock()
				switch {
				case err == nil:
					ok[id] = true
				case errors.Is(err, failover.ErrClosed):
					refused++
				default:
					t.Errorf("Publish %s: %v", id, err)
				}
				mu.Unlock()
			}
		}()
	}
	testkit.Eventually(t, 30*time.Second, "a third of the messages published", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok) >= workers*each/3
	})
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
	seen := map[string]int{}
	for _, id := range append(a.taken(), b.taken()...) {
		seen[id]++
	}
	for id := range ok {
		if seen[id] != 1 {
			t.Errorf("message %s returned nil but was taken %d times", id, seen[id])
		}
	}
	if len(seen) != len(ok) {
		t.Errorf("publishers took %d messages, Publish returned nil for %d", len(seen), len(ok))
	}
	if refused == 0 {
		t.Log("no Publish was refused by Close (all finished first)")
	}
	if len(a.taken()) == 0 || len(b.taken()) == 0 {
		t.Errorf("A took %d, B took %d: want both used", len(a.taken()), len(b.taken()))
	}
}

// When a broker dies, every publish in flight on it fails at once. That is
// one failure, not one per publish: the backoff stays short, so the
// publisher is tried again soon after the broker is back.
func TestWrapperCountsFailuresOfPublishesInFlightTogetherAsOne(t *testing.T) {
	const inFlight = 16
	gate := make(chan struct{})
	entered := make(chan string, inFlight)
	a, b := newFake(nil), newFake(nil)
	a.set(func(m *message.Message) error {
		entered <- m.UUID
		<-gate
		return errors.New("connection lost")
	})
	// Counted once: 50 ms; twice: 500 ms; three times: 5 s; 16 times: a minute.
	w := newWrapper(t, failover.WrapperConfig{
		Publishers: publishers(a, b),
		Backoff:    broker.Backoff{Initial: 50 * time.Millisecond, Max: time.Minute, Multiplier: 10, Jitter: 0},
	})
	var wg sync.WaitGroup
	for i := range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Publish("n", msg(fmt.Sprint("burst", i))); err != nil {
				t.Errorf("burst %d: %v", i, err)
			}
		}()
	}
	for range inFlight {
		<-entered
	}
	failedAt := time.Now()
	close(gate)
	wg.Wait()
	if len(b.taken()) != inFlight {
		t.Fatalf("B took %d of the %d failed publishes", len(b.taken()), inFlight)
	}
	a.set(nil)
	testkit.Eventually(t, 3*time.Second, "A tried again (its backoff counted the burst as one failure)", func() bool {
		if err := w.Publish("n", msg("probe")); err != nil {
			t.Fatal(err)
		}
		return len(a.taken()) > 0
	})
	t.Logf("A tried again %s after the burst failed", time.Since(failedAt).Round(time.Millisecond))
}
