package rpc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func TestCloseFailsWaitingCallsWithErrClosedAndIsIdempotent(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := randomName("sbtest-close")
	startStandIn(t, url, node, false, "")
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)
	if _, err := s.Ping(context.Background(), node); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, err := s.Call(context.Background(), node+".util.sleep", 2000)
		errs <- err
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("waiting call: %v, want ErrClosed", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %s", took)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(context.Background(), node+".math.add", nil); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("Call after Close: %v, want ErrClosed", err)
	}
	if err := s.Send(context.Background(), node+".math.add", nil); !errors.Is(err, rpc.ErrClosed) {
		t.Fatalf("Send after Close: %v, want ErrClosed", err)
	}
}
