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

func TestServiceOutOfTimeAnswersDeadlineExceeded(t *testing.T) {
	conn, node := freshNode(t, "outoftime")
	startAgent(t, node, func(a *router.Agent) {
		a.AddRPCService("x", "slow", func(ctx context.Context, req *router.Request) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := newPyClient(t, conn, node)
	deadline := time.Now().Add(200 * time.Millisecond).UnixMilli()
	select {
	case d := <-c.start(testkit.PyCall("1", todayToken(), "x", "slow", "null"), amqp.Publishing{Headers: amqp.Table{codec.HeaderDeadline: deadline}}):
		if got := d.Headers[codec.HeaderErrorCode]; got != string(codec.CodeDeadlineExceeded) {
			t.Errorf("reply code %v body %q", got, d.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reply")
	}
}
