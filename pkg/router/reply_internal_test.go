package router

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
)

// A reply's message UUID stays what watermill.NewUUID made before: a random
// version 4 UUID, new for every reply, since a publisher with
// codec.Marshaler sends it as the message id.
func TestReplyMessagesGetDistinctRandomVersion4UUIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := newUUID()
		u, err := uuid.Parse(s)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != s {
			t.Fatalf("%q is not a version 4 UUID in canonical form (%v)", s, err)
		}
		if seen[s] {
			t.Fatalf("%q came twice", s)
		}
		seen[s] = true
	}
}

// HandleRPC returns its reply in the delivery's own slot once; a handler
// run again for the same delivery (by a middleware) must not overwrite the
// reply of the first run.
func TestProducedTakesTheDeliverysSlotOnce(t *testing.T) {
	msg := message.NewMessage("m", nil)
	msg.SetContext(context.WithValue(context.Background(), deliveryKey{}, &delivery{}))
	first, second := message.NewMessage("r1", nil), message.NewMessage("r2", nil)
	out1 := produced(msg, first)
	out2 := produced(msg, second)
	if len(out1) != 1 || out1[0] != first || len(out2) != 1 || out2[0] != second {
		t.Fatalf("replies %v and %v, want [r1] and [r2]", out1, out2)
	}
	if out := produced(message.NewMessage("x", nil), first); len(out) != 1 || out[0] != first {
		t.Fatalf("outside an agent: %v", out)
	}
}

// A message's first context gives its delivery and behaves as the agent's
// base context: what is made from it is cancelled with it, with its cause,
// and no goroutine watches it (the cancelCtx is found through Value).
func TestTheDeliveryContextGivesTheDeliveryAndFollowsTheBaseContext(t *testing.T) {
	base, cancelBase := context.WithCancelCause(context.Background())
	dl := &delivery{}
	dl.ctx = deliveryContext{Context: base, dl: dl}
	msg := message.NewMessage("m", nil)
	msg.SetContext(&dl.ctx)
	if deliveryFrom(msg) != dl {
		t.Fatal("the message's context does not give its delivery")
	}
	before := runtime.NumGoroutine()
	var children []context.Context
	for range 10 {
		ctx, cancel := context.WithDeadline(context.WithValue(msg.Context(), requestKey{}, nil), time.Now().Add(time.Hour))
		defer cancel()
		children = append(children, ctx)
	}
	if n := runtime.NumGoroutine() - before; n > 0 {
		t.Errorf("%d goroutines watch the delivery context", n)
	}
	cancelBase(ErrDrainTimeout)
	for _, ctx := range children {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a context made from the delivery's was not cancelled with the base context")
		}
		if !errors.Is(context.Cause(ctx), ErrDrainTimeout) {
			t.Fatalf("cause %v, want ErrDrainTimeout", context.Cause(ctx))
		}
	}
}
