package failover_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// A publisher that hangs (ignoring the message's context, as watermill-amqp
// does while it waits for a confirm) costs a message AttemptTimeout, then the
// message moves on; the hung publisher is skipped until its publish returns.
func TestWrapperMovesOnFromAHungPublisherAfterTheAttemptTimeout(t *testing.T) {
	const attempt = 100 * time.Millisecond
	a, b := newFake(nil), newFake(nil)
	release := make(chan struct{})
	a.set(hangUntil(a, release, nil))
	w := newWrapper(t, failover.WrapperConfig{
		Publishers:     publishers(a, b),
		AttemptTimeout: attempt,
		Backoff:        broker.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
	})
	start := time.Now()
	if err := w.Publish("n", msg("m1")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < attempt {
		t.Errorf("Publish returned after %s, before A's attempt timeout of %s", took, attempt)
	}
	if !sameStrings(b.taken(), []string{"m1"}) {
		t.Fatalf("B took %v, want m1", b.taken())
	}
	// A's backoff (1 ms) has passed, but its publish has not returned: A is
	// skipped, and m2 costs no attempt timeout.
	time.Sleep(5 * time.Millisecond)
	if err := w.Publish("n", msg("m2")); err != nil {
		t.Fatal(err)
	}
	if a.callCount() != 1 {
		t.Errorf("A called %d times while its first publish hung", a.callCount())
	}
	// Once the hung publish returns, A is tried again and takes messages.
	a.set(nil)
	close(release)
	testkit.Eventually(t, 5*time.Second, "A taking a message again", func() bool {
		if err := w.Publish("n", msg("later")); err != nil {
			t.Fatal(err)
		}
		for _, id := range a.taken() {
			if id == "later" {
				return true
			}
		}
		return false
	})
}

func TestWrapperReportsPublishersThatAllHang(t *testing.T) {
	a, b := newFake(nil), newFake(nil)
	release := make(chan struct{})
	defer close(release)
	a.set(hangUntil(a, release, nil))
	b.set(hangUntil(b, release, nil))
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), AttemptTimeout: 50 * time.Millisecond, Names: []string{"a", "b"}})
	err := w.Publish("n", msg("m1"))
	if !errors.Is(err, failover.ErrNotPublished) || !errors.Is(err, failover.ErrAttemptTimeout) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"publisher a: failover: publisher did not answer within the attempt timeout: no answer within 50ms", "publisher b: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	// Both still hang: the next message fails at once, naming why.
	start := time.Now()
	err = w.Publish("n", msg("m2"))
	if !errors.Is(err, failover.ErrAttemptTimeout) || !strings.Contains(err.Error(), "publisher a: skipped: 1 earlier publish(es) on it hung") {
		t.Errorf("m2: %v", err)
	}
	if took := time.Since(start); took > 40*time.Millisecond {
		t.Logf("m2 failed after %s (only skips: expected at once; a busy machine may delay it)", took)
	}
}

// The message's context bounds the whole Publish: cancelling it returns at
// once, even from a publisher that ignores contexts, and is not held
// against that publisher.
func TestWrapperReturnsWhenTheMessageContextIsDone(t *testing.T) {
	a, b := newFake(nil), newFake(nil)
	release := make(chan struct{})
	defer close(release)
	entered := make(chan string, 1)
	hang := hangUntil(a, release, entered)
	a.set(func(m *message.Message) error {
		if m.UUID == "slow" {
			return hang(m)
		}
		return nil
	})
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), AttemptTimeout: time.Minute})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Publish("n", msgCtx(ctx, "slow"), msg("next")) }()
	<-entered
	cancel()
	err := testkit.Receive(t, done, 10*time.Second, "Publish did not return after its message's context was cancelled")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, failover.ErrNotPublished) {
		t.Errorf("err = %v, want context.Canceled and ErrNotPublished", err)
	}
	if !strings.Contains(err.Error(), "publisher 1: not tried") {
		t.Errorf("error does not say B was not tried: %v", err)
	}
	var pe *failover.WrapperPublishError
	if !errors.As(err, &pe) || pe.Published != 0 || pe.Total != 2 {
		t.Errorf("WrapperPublishError = %+v", pe)
	}
	if b.callCount() != 0 {
		t.Error("B was tried after the message's context was done")
	}
	// A was not counted as failed: it takes the next message at once.
	if err := w.Publish("n", msg("fast")); err != nil {
		t.Fatal(err)
	}
	if !sameStrings(a.taken(), []string{"fast"}) {
		t.Errorf("A took %v, want fast", a.taken())
	}

	// A message whose deadline passes in a hung publisher.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = w.Publish("n", msgCtx(ctx, "slow"))
	<-entered
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	// A message whose context is done before Publish reaches any publisher.
	calls := a.callCount() + b.callCount()
	err = w.Publish("n", msgCtx(ctx, "late"))
	if !errors.Is(err, context.DeadlineExceeded) || a.callCount()+b.callCount() != calls {
		t.Errorf("err = %v; publishers called %d more times", err, a.callCount()+b.callCount()-calls)
	}
}

// A publisher that honours the message's context returns its error when the
// caller cancels: that is the caller's doing, and the publisher stays first.
func TestWrapperDoesNotHoldACancelledPublishAgainstAPublisher(t *testing.T) {
	entered := make(chan string, 1)
	a, b := newFake(nil), newFake(nil)
	a.set(func(m *message.Message) error {
		if m.UUID != "slow" {
			return nil
		}
		entered <- m.UUID
		<-m.Context().Done()
		return m.Context().Err()
	})
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), Backoff: broker.Backoff{Initial: time.Minute, Max: time.Minute}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Publish("n", msgCtx(ctx, "slow")) }()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := w.Publish("n", msg("next")); err != nil {
		t.Fatal(err)
	}
	if !sameStrings(a.taken(), []string{"next"}) || b.callCount() != 0 {
		t.Errorf("A took %v and B was called %d times: A was held responsible for a cancelled publish", a.taken(), b.callCount())
	}
}
