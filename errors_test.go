package servicebus_test

import (
	"context"
	"errors"
	"testing"

	servicebus "github.com/go-servicebus/servicebus"
)

// A program that imports only the root package branches on its names: they
// must match what the sender and the agent return, and the helpers must
// classify as the packages do.
func TestFrontDoorErrorsMatchWhatSenderAndAgentReturn(t *testing.T) {
	cfg := servicebus.DefaultConfig()
	cfg.TokenMode = servicebus.TokenOff
	ctx := context.Background()

	s, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Call(ctx, "no-target", nil); !errors.Is(err, servicebus.ErrBadTarget) {
		t.Errorf("bad target: %v, want ErrBadTarget", err)
	}
	_ = s.Close()
	if _, err := s.Call(ctx, "N.math.add", nil); !errors.Is(err, servicebus.ErrClosed) {
		t.Errorf("call on a closed sender: %v, want ErrClosed", err)
	}
	a, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	if err := a.Start(ctx); !errors.Is(err, servicebus.ErrClosed) {
		t.Errorf("Start of a closed agent: %v, want ErrClosed", err)
	}

	var none *servicebus.Reply
	if err := none.Decode(new(int)); !errors.Is(err, servicebus.ErrNoReply) {
		t.Errorf("Decode of a nil Reply: %v, want ErrNoReply", err)
	}
	if !errors.Is(servicebus.ErrConnectionLost, servicebus.ErrUnavailable) || !servicebus.IsRetryable(servicebus.ErrConnectionLost) {
		t.Error("ErrConnectionLost must match ErrUnavailable and be retryable")
	}
	if servicebus.IsRetryable(servicebus.ErrNoRoute) || servicebus.IsRetryable(&servicebus.RemoteError{Code: servicebus.CodeBadToken}) {
		t.Error("no route and a refused token are not retryable")
	}

	bad := servicebus.Errorf(servicebus.CodeBadRequest, "params: %w", errors.New("not a list"))
	if bad.Code != servicebus.CodeBadRequest || bad.Message != "params: not a list" || !servicebus.IsPermanent(bad) {
		t.Errorf("Errorf = %+v, permanent %v", bad, servicebus.IsPermanent(bad))
	}
	if servicebus.IsPermanent(servicebus.NewError(servicebus.CodeUnavailable, "later")) {
		t.Error("an unavailable agent is worth a retry")
	}
	if !servicebus.IsPermanent(servicebus.Permanent(errors.New("no such customer"))) {
		t.Error("Permanent did not mark the error")
	}
}
