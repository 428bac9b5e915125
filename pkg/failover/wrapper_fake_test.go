package failover_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/failover"
)

// fakePublisher records what it was given. Its behaviour for each message is
// set by fn (nil: take every message); it may fail, block or panic.
type fakePublisher struct {
	mu       sync.Mutex
	fn       func(m *message.Message) error
	calls    []time.Time // when Publish was called, one entry a message
	got      []string    // UUIDs it took (Publish returned nil)
	closes   int
	closeErr error
	closedC  chan struct{} // closed by Close: blocked publishes may wait on it
}

func newFake(fn func(m *message.Message) error) *fakePublisher {
	return &fakePublisher{fn: fn, closedC: make(chan struct{})}
}

func (f *fakePublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		f.mu.Lock()
		f.calls = append(f.calls, time.Now())
		fn := f.fn
		f.mu.Unlock()
		var err error
		if fn != nil {
			err = fn(m)
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.got = append(f.got, m.UUID)
		f.mu.Unlock()
	}
	return nil
}

func (f *fakePublisher) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes++
	if f.closes == 1 {
		close(f.closedC)
	}
	return f.closeErr
}

func (f *fakePublisher) set(fn func(m *message.Message) error) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

func (f *fakePublisher) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakePublisher) callTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

func (f *fakePublisher) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func (f *fakePublisher) closeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closes
}

// failWith is a publisher behaviour: refuse every message with err.
func failWith(err error) func(*message.Message) error {
	return func(*message.Message) error { return err }
}

// hangUntil is a publisher behaviour that ignores the message's context, as
// watermill-amqp does while it waits for a confirm: it returns only when
// release is closed (then nil) or the publisher is closed (then an error).
func hangUntil(f *fakePublisher, release <-chan struct{}, entered chan<- string) func(*message.Message) error {
	return func(m *message.Message) error {
		if entered != nil {
			entered <- m.UUID
		}
		select {
		case <-release:
			return nil
		case <-f.closedC:
			return errors.New("publisher closed")
		}
	}
}

func newWrapper(t *testing.T, cfg failover.WrapperConfig) *failover.Wrapper {
	t.Helper()
	w, err := failover.NewWrapper(cfg, nil)
	if err != nil {
		t.Fatalf("NewWrapper: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func publishers(fs ...*fakePublisher) []message.Publisher {
	out := make([]message.Publisher, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

func msg(uuid string) *message.Message { return message.NewMessage(uuid, []byte("payload of "+uuid)) }

func msgCtx(ctx context.Context, uuid string) *message.Message {
	m := msg(uuid)
	m.SetContext(ctx)
	return m
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
