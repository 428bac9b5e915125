package router_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
)

func TestCallPastItsDeadlineIsNotRun(t *testing.T) {
	conn, node := freshNode(t, "deadline")
	var runs atomic.Int32
	var gotDeadline atomic.Value
	a := startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "y", func(ctx context.Context, req *router.Request) (any, error) {
			runs.Add(1)
			d, _ := ctx.Deadline()
			gotDeadline.Store(d)
			return nil, nil
		})
	})
	c := newPyClient(t, conn, node)
	call := testkit.PyCall("1", todayToken(), "x", "y", "null")
	past := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)

	for name, pub := range map[string]amqp.Publishing{
		"x-sb-deadline passed":        {Headers: amqp.Table{codec.HeaderDeadline: past}},
		"timestamp+expiration passed": {Timestamp: time.Now().Add(-2 * time.Minute), Expiration: "60000"},
	} {
		select {
		case d := <-c.start(call, pub):
			if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodeDeadlineExceeded) {
				t.Errorf("%s: reply code %v body %q", name, got, d.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no reply", name)
		}
	}
	if runs.Load() != 0 {
		t.Fatalf("a call past its deadline ran")
	}

	// A deadline still ahead is handed to the service's context.
	future := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	select {
	case d := <-c.start(call, amqp.Publishing{Headers: amqp.Table{codec.HeaderDeadline: future.UnixMilli()}}):
		if code, ok := d.Headers[codec.HeaderErrorCode]; ok {
			t.Fatalf("reply error %v", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
	if got, _ := gotDeadline.Load().(time.Time); !got.Equal(future) {
		t.Errorf("service context deadline %v, want %v", got, future)
	}
	if s := a.Stats(); s.DeadlineExceeded != 2 {
		t.Errorf("stats %+v", s)
	}
}

// A service still running at the call's deadline has its context ended and
// the call is answered DEADLINE_EXCEEDED. The test checks that the service
// did run (a call that arrives late is refused before it runs, another
// path) and that the answer came after the deadline, not before.
func TestServiceOutOfTimeAnswersDeadlineExceeded(t *testing.T) {
	conn, node := freshNode(t, "outoftime")
	var ran atomic.Int32
	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "slow", func(ctx context.Context, req *router.Request) (any, error) {
			ran.Add(1)
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := newPyClient(t, conn, node)
	// 2 s ahead: the call reaches the service well before, even under -race
	// on busy cores (a delivery takes milliseconds).
	deadline := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	select {
	case d := <-c.start(testkit.PyCall("1", todayToken(), "x", "slow", "null"), amqp.Publishing{Headers: amqp.Table{codec.HeaderDeadline: deadline.UnixMilli()}}):
		if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodeDeadlineExceeded) {
			t.Errorf("reply code %v body %q", got, d.Body)
		}
		if early := time.Until(deadline); early > 0 {
			t.Errorf("answered %s before the deadline", early)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply")
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("the service ran %d times, want once: the out-of-time path was not taken", n)
	}
}
