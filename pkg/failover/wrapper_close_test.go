package failover_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/failover"
)

func TestWrapperCloseIsIdempotentAndLeavesBorrowedPublishersOpen(t *testing.T) {
	a := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a)})
	for i := range 3 {
		if err := w.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := w.Publish("n", msg("m1")); !errors.Is(err, failover.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if a.closeCount() != 0 || a.callCount() != 0 {
		t.Errorf("borrowed publisher closed %d times, called %d times", a.closeCount(), a.callCount())
	}
}

func TestWrapperCloseClosesThePublishersItOwnsOnce(t *testing.T) {
	a, b := newFake(nil), newFake(nil)
	b.closeErr = errors.New("close failed")
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), Names: []string{"a", "b"}, ClosePublishers: true})
	err := w.Close()
	if !errors.Is(err, b.closeErr) || !strings.Contains(err.Error(), "publisher b: close failed") {
		t.Errorf("Close: %v, want the error of b named", err)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("second Close: %v, want the first one's result", err2)
	}
	if a.closeCount() != 1 || b.closeCount() != 1 {
		t.Errorf("closed a %d and b %d times, want once each", a.closeCount(), b.closeCount())
	}
}

// Close lets a call finish the message it is on, does not start its next
// message, and waits for it.
func TestWrapperCloseFinishesTheMessageInFlightAndStopsTheRest(t *testing.T) {
	a := newFake(nil)
	release := make(chan struct{})
	entered := make(chan string, 1)
	hang := hangUntil(a, release, entered)
	a.set(func(m *message.Message) error {
		if m.UUID == "m1" {
			return hang(m)
		}
		return nil
	})
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a), AttemptTimeout: time.Minute})
	published := make(chan error, 1)
	go func() { published <- w.Publish("n", msg("m1"), msg("m2")) }()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	// Close must wait for m1. Give it time to return wrongly.
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a publish was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	err := <-published
	var pe *failover.WrapperPublishError
	if !errors.As(err, &pe) || pe.Published != 1 || pe.UUID != "m2" || !errors.Is(err, failover.ErrClosed) {
		t.Errorf("Publish: %v, want m1 published and m2 refused with ErrClosed", err)
	}
	if !sameStrings(a.taken(), []string{"m1"}) {
		t.Errorf("published %v, want m1", a.taken())
	}
}

// With ClosePublishers, Close closes a hung publisher and waits for its
// abandoned publish to return.
func TestWrapperCloseEndsPublishesAbandonedOnOwnedPublishers(t *testing.T) {
	a, b := newFake(nil), newFake(nil)
	never := make(chan struct{})
	a.set(hangUntil(a, never, nil)) // returns only when a is closed
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), AttemptTimeout: 20 * time.Millisecond, ClosePublishers: true})
	if err := w.Publish("n", msg("m1")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// goleak in TestMain checks that the abandoned publish's goroutine ended.
}

func TestWrapperCloseIsBoundedByCloseTimeout(t *testing.T) {
	a := newFake(nil)
	release := make(chan struct{})
	defer close(release)
	entered := make(chan string, 1)
	// Ignores even its own Close: only the test ends it.
	a.set(func(m *message.Message) error {
		entered <- m.UUID
		<-release
		return nil
	})
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a), AttemptTimeout: time.Minute, ClosePublishers: true, CloseTimeout: 100 * time.Millisecond})
	go func() { _ = w.Publish("n", msg("m1")) }()
	<-entered
	start := time.Now()
	err := w.Close()
	if took := time.Since(start); took < 100*time.Millisecond || took > 10*time.Second {
		t.Errorf("Close took %s with CloseTimeout 100ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "publishes still in flight after 100ms") {
		t.Errorf("Close: %v", err)
	}
}
