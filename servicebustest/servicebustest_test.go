package servicebustest_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/servicebustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sum(_ context.Context, xs []float64) (float64, error) {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s, nil
}

// Services runs a service through the agent's built-in middleware: results
// and every kind of error reply come back as a Sender reads them.
func TestServicesAnswerAsAnAgentDoes(t *testing.T) {
	s, err := servicebustest.NewServices()
	if err != nil {
		t.Fatal(err)
	}
	var wrapped atomic.Int32
	s.AddRPCService("math", "add", servicebus.RPC(sum), func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			wrapped.Add(1)
			return h(msg)
		}
	})
	s.AddRPCService("math", "boom", func(context.Context, *servicebus.Request) (any, error) { panic("boom") })
	s.AddRPCService("math", "busy", func(context.Context, *servicebus.Request) (any, error) {
		return nil, router.NewError(codec.CodeUnavailable, "try later")
	})
	ctx := context.Background()

	reply, err := s.Call(ctx, "math.add", []int{1, 2})
	if err != nil || reply.Raw != "3" || reply.ID == "" {
		t.Fatalf("math.add: %+v, %v", reply, err)
	}
	if wrapped.Load() != 1 {
		t.Errorf("the service's own middleware ran %d times", wrapped.Load())
	}
	for _, tc := range []struct {
		service string
		params  any
		code    codec.ErrorCode
		text    string
	}{
		{"math.mul", []int{1}, codec.CodeUnknownService, "Cannot Find RPC Service: math.mul"},
		{"math.add", "x", codec.CodeBadRequest, ""},
		{"math.boom", nil, codec.CodePanic, "panic: boom"},
		{"math.busy", nil, codec.CodeUnavailable, "try later"},
	} {
		_, err := s.Call(ctx, tc.service, tc.params)
		var remote *servicebus.RemoteError
		if !errors.As(err, &remote) || remote.Code != tc.code || (tc.text != "" && remote.Message != tc.text) {
			t.Errorf("%s(%v): %v, want %s %q", tc.service, tc.params, err, tc.code, tc.text)
		}
	}
}

// Calls that never pass an agent's checks: a forged token, a deadline
// already passed, a PING, a body that is no envelope.
func TestServicesRefuseWhatAnAgentRefuses(t *testing.T) {
	s, err := servicebustest.NewServices()
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	s.AddRPCService("math", "add", func(ctx context.Context, req *servicebus.Request) (any, error) {
		runs.Add(1)
		return servicebus.RPC(sum)(ctx, req)
	})
	other, err := servicebus.NewEnvelopes(servicebustest.Config()) // another random secret
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, forged, err := other.CallMessage(ctx, "N.math.add", []int{1, 2}, "q")
	if err != nil {
		t.Fatal(err)
	}
	_, stale, err := s.Envelopes().CallMessage(ctx, "N.math.add", []int{1, 2}, "q")
	if err != nil {
		t.Fatal(err)
	}
	stale.Metadata.Set(codec.HeaderDeadline, strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10))
	ping := message.NewMessage("p", codec.PingBody)
	ping.Metadata.Set(codec.MetaReplyTo, "q")
	garbage := message.NewMessage("g", []byte("not xml"))
	garbage.Metadata.Set(codec.MetaReplyTo, "q")

	for name, tc := range map[string]struct {
		msg  *message.Message
		code codec.ErrorCode
	}{
		"forged token": {forged, codec.CodeBadToken},
		"stale":        {stale, codec.CodeDeadlineExceeded},
		"garbage":      {garbage, codec.CodeBadRequest},
	} {
		out, err := s.Handle(tc.msg)
		_, rerr := servicebustest.ReadReply(out)
		var remote *servicebus.RemoteError
		if err != nil || !errors.As(rerr, &remote) || remote.Code != tc.code {
			t.Errorf("%s: %v, %v; want %s", name, err, rerr, tc.code)
		}
	}
	out, err := s.Handle(ping)
	if reply, rerr := servicebustest.ReadReply(out); err != nil || rerr != nil || reply.Raw != "PONG" {
		t.Errorf("ping: %v %v %v", reply, err, rerr)
	}
	if runs.Load() != 0 {
		t.Errorf("the service ran %d times", runs.Load())
	}
}

// The caller's deadline is the service's: a service that outlives it is
// answered deadline_exceeded.
func TestServicesGiveTheCallersDeadlineToTheService(t *testing.T) {
	s, err := servicebustest.NewServices()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.AddRPCService("math", "slow", func(ctx context.Context, _ *servicebus.Request) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	_, err = s.Call(ctx, "math.slow", nil)
	var remote *servicebus.RemoteError
	if !errors.As(err, &remote) || remote.Code != codec.CodeDeadlineExceeded {
		t.Fatalf("slow call: %v", err)
	}
}

// Send runs a message service with the agent's retries: nil is an ack, an
// error (after the retries) a rejection.
func TestServicesSendRetriesLikeAnAgent(t *testing.T) {
	s, err := servicebustest.NewServices()
	if err != nil {
		t.Fatal(err)
	}
	s.SetRetry(router.RetryConfig{MaxRetries: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond})
	var attempts atomic.Int32
	s.AddMessageService("util", "flaky", func(context.Context, *servicebus.Request) error {
		if attempts.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	s.AddMessageService("util", "never", func(context.Context, *servicebus.Request) error { return errors.New("never") })
	ctx := context.Background()
	if err := s.Send(ctx, "util.flaky", "x"); err != nil || attempts.Load() != 3 {
		t.Errorf("flaky: %v after %d attempts", err, attempts.Load())
	}
	if err := s.Send(ctx, "util.never", "x"); err == nil {
		t.Error("a service that always fails was acked")
	}
	if err := s.Send(ctx, "util.none", "x"); !errors.As(err, new(*router.Error)) || !router.IsPermanent(err) {
		t.Errorf("unknown message service: %v", err)
	}
}

// StartNode runs a real agent and sender on the broker and deletes the
// node's queue when the test is over.
func TestStartNodeServesAndCleansUp(t *testing.T) {
	var node string
	t.Run("node", func(t *testing.T) {
		n := servicebustest.StartNode(t, "", func(a *servicebus.Agent) {
			a.AddRPCService("math", "add", servicebus.RPC(sum))
		})
		node = n.Name
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reply, err := n.Call(ctx, "math.add", []int{1, 2})
		if err != nil || reply.Raw != "3" {
			t.Fatalf("math.add on %s: %v, %v", n.Name, reply, err)
		}
		if err := n.Send(ctx, "math.add", []int{1, 2}); err != nil {
			t.Fatal(err)
		}
	})
	if node == "" {
		return // skipped: no broker
	}
	conn, err := amqp.Dial(servicebustest.BrokerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclarePassive(node, true, false, false, false, nil); err == nil {
		t.Errorf("queue %s still there after the test", node)
	}
}

// fakeCaller is a Request.Sender of a test's own.
type fakeCaller struct{ targets []string }

func (f *fakeCaller) Call(_ context.Context, target string, _ any) (*servicebus.Reply, error) {
	f.targets = append(f.targets, target)
	return &servicebus.Reply{Raw: "40"}, nil
}

func (f *fakeCaller) Send(context.Context, string, any) error { return nil }

// SetCaller is what the services' Request.Sender returns.
func TestServicesCallOthersThroughTheCallerSet(t *testing.T) {
	s, err := servicebustest.NewServices()
	if err != nil {
		t.Fatal(err)
	}
	caller := &fakeCaller{}
	s.SetCaller(caller)
	s.AddRPCService("math", "plus2", func(ctx context.Context, req *servicebus.Request) (any, error) {
		reply, err := req.Sender().Call(ctx, "OTHER.math.get", nil)
		if err != nil {
			return nil, err
		}
		var n int
		if err := reply.Decode(&n); err != nil {
			return nil, err
		}
		return n + 2, nil
	})
	reply, err := s.Call(context.Background(), "math.plus2", nil)
	if err != nil || reply.Raw != "42" || len(caller.targets) != 1 || caller.targets[0] != "OTHER.math.get" {
		t.Fatalf("math.plus2: %v, %v; the caller saw %q", reply, err, caller.targets)
	}
}

// recorder stands in for the testing.TB of StartNode: it records how the
// test would end, and ends StartNode's goroutine as Fatal and Skip do.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(func())        {}
func (r *recorder) Skip(...any)           { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatal(...any)          { r.failed = true; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }

// Without a broker StartNode skips the test, or fails it in CI (CI set, not "false" or "0").
func TestStartNodeWithoutABrokerSkipsOrFailsUnderCI(t *testing.T) {
	for _, ci := range []string{"", "0", "false", "true", "1"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			servicebustest.StartNode(r, "amqp://guest:guest@127.0.0.1:1/", nil)
		}()
		<-done
		if want := ci == "true" || ci == "1"; r.failed != want || r.skipped == want {
			t.Errorf("CI=%q: failed %v, skipped %v", ci, r.failed, r.skipped)
		}
	}
}
