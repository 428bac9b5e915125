package router_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// outcomes records what an Observer was told.
type outcomes struct {
	mu   sync.Mutex
	seen map[router.Outcome]int
}

func (o *outcomes) observe(_ *message.Message, oc router.Outcome, _ error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[router.Outcome]int{}
	}
	o.seen[oc]++
}

func (o *outcomes) count(oc router.Outcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[oc]
}

// The built-in middleware compose on a plain Watermill router with a
// gochannel pub/sub, no agent and no broker: py-servicebus call envelopes
// come in as payload plus codec.Marshaler metadata, replies go out to a
// topic of their own with the call's correlation id.
func TestBuiltinMiddlewareComposeOnAPlainRouter(t *testing.T) {
	logger := watermill.NopLogger{}
	pubsub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 16}, logger)
	defer pubsub.Close()
	r, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	var seen outcomes
	tokens := token.NewDailyTokens(secret, nil)

	calls := r.AddHandler("calls", "calls", pubsub, "replies", pubsub, router.HandleRPC(add))
	calls.AddMiddleware(
		router.Answer{Observer: seen.observe}.Middleware,
		router.Decode{Observer: seen.observe}.Middleware,
		router.Token{Validator: tokens, Observer: seen.observe}.Middleware,
		router.Deadline{Observer: seen.observe}.Middleware,
	)
	var attempts atomic.Int32
	done := make(chan string, 4)
	msgs := r.AddConsumerHandler("messages", "messages", pubsub, router.HandleMessage(func(ctx context.Context, req *router.Request) error {
		if attempts.Add(1) < 3 {
			return errors.New("not yet")
		}
		done <- req.ID
		return nil
	}))
	msgs.AddMiddleware(
		router.Recover{Observer: seen.observe}.Middleware,
		router.Decode{Observer: seen.observe}.Middleware,
		router.Token{Validator: tokens, Observer: seen.observe}.Middleware,
		router.Deadline{Observer: seen.observe}.Middleware,
		router.Retry{RetryConfig: router.RetryConfig{MaxRetries: 2, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}}.Middleware,
	)
	replies, err := pubsub.Subscribe(context.Background(), "replies")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.Run(context.Background()) }()
	defer r.Close()
	<-r.Running()

	past := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)
	for _, tc := range []struct {
		name, corr string
		body       []byte
		meta       map[string]string
		code       codec.ErrorCode // "" for a result
		text       string
	}{
		{"result", "c1", testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), nil, "", "3"},
		{"bad token", "c2", testkit.PyCall("2", "nope", "math", "add", "[1, 2]"), nil, codec.CodeBadToken, codec.TextTokenNotValid},
		{"undecodable", "c3", []byte("not xml"), nil, codec.CodeBadRequest, ""},
		{"deadline passed", "c4", testkit.PyCall("4", todayToken(), "math", "add", "[1, 2]"), map[string]string{codec.HeaderDeadline: past}, codec.CodeDeadlineExceeded, ""},
		{"ping", "c5", codec.PingBody, nil, "", "PONG"},
	} {
		msg := message.NewMessage(watermill.NewUUID(), tc.body)
		msg.Metadata.Set(codec.MetaReplyTo, "replies")
		msg.Metadata.Set(codec.MetaCorrelationID, tc.corr)
		for k, v := range tc.meta {
			msg.Metadata.Set(k, v)
		}
		if err := pubsub.Publish("calls", msg); err != nil {
			t.Fatal(err)
		}
		reply := testkit.Receive(t, replies, 5*time.Second, fmt.Sprintf("%s: no reply", tc.name))
		reply.Ack()
		if got := reply.Metadata.Get(codec.MetaCorrelationID); got != tc.corr {
			t.Errorf("%s: reply correlation id %q, want %q", tc.name, got, tc.corr)
		}
		if got := reply.Metadata.Get(codec.HeaderErrorCode); got != string(tc.code) {
			t.Errorf("%s: error code %q, want %q (body %q)", tc.name, got, tc.code, reply.Payload)
		}
		if tc.name == "ping" {
			if string(reply.Payload) != tc.text {
				t.Errorf("ping answered %q", reply.Payload)
			}
			continue
		}
		resp, err := codec.DecodeResponse(reply.Payload, codec.Options{})
		if err != nil {
			t.Fatalf("%s: reply %q: %v", tc.name, reply.Payload, err)
		}
		if tc.text != "" && resp.Message != tc.text {
			t.Errorf("%s: reply text %q, want %q", tc.name, resp.Message, tc.text)
		}
	}

	// A message: retried by Retry until the service takes it.
	if err := pubsub.Publish("messages", message.NewMessage(watermill.NewUUID(), testkit.PyCall("m1", todayToken(), "util", "print", `"x"`))); err != nil {
		t.Fatal(err)
	}
	id := testkit.Receive(t, done, 5*time.Second, "message service never succeeded")
	if id != "m1" || attempts.Load() != 3 {
		t.Errorf("message %q after %d attempts, want m1 after 3", id, attempts.Load())
	}
	for oc, want := range map[router.Outcome]int{
		router.OutcomeBadToken: 1, router.OutcomeMalformed: 1, router.OutcomeDeadlineExceeded: 1,
		router.OutcomePong: 1, router.OutcomeFailed: 3, // the refused calls; Retry hid the failed attempts from Recover
	} {
		if got := seen.count(oc); got != want {
			t.Errorf("observer saw %s %d times, want %d", oc, got, want)
		}
	}
}

// Answer answers a panic and Recover turns one into an error, on any
// router; neither lets it reach Watermill.
func TestAnswerAndRecoverCatchPanics(t *testing.T) {
	boom := func(*message.Message) ([]*message.Message, error) { panic("boom") }
	var seen outcomes
	msg := message.NewMessage("1", nil)
	out, err := router.Answer{Observer: seen.observe}.Middleware(boom)(msg)
	if err != nil || len(out) != 1 || out[0].Metadata.Get(codec.HeaderErrorCode) != string(codec.CodePanic) {
		t.Fatalf("Answer: %v, %v", out, err)
	}
	_, err = router.Recover{Observer: seen.observe}.Middleware(boom)(msg)
	var p *router.PanicError
	if !errors.As(err, &p) || p.Value != "boom" || len(p.Stack) == 0 || !router.IsPermanent(err) {
		t.Fatalf("Recover: %v", err)
	}
	if seen.count(router.OutcomePanic) != 2 {
		t.Errorf("panics observed: %d", seen.count(router.OutcomePanic))
	}
}

// Token and Deadline need the request Decode puts in the context: without
// it they refuse the message rather than run the service unchecked.
func TestTokenAndDeadlineWithoutDecodeRefuse(t *testing.T) {
	ran := false
	h := func(*message.Message) ([]*message.Message, error) { ran = true; return nil, nil }
	for name, m := range map[string]message.HandlerMiddleware{
		"token":    router.Token{Validator: token.NoTokens}.Middleware,
		"deadline": router.Deadline{}.Middleware,
	} {
		if _, err := m(h)(message.NewMessage("1", testkit.PyCall("1", "", "a", "b", "null"))); err == nil || !router.IsPermanent(err) {
			t.Errorf("%s without Decode: %v", name, err)
		}
	}
	if ran {
		t.Error("the handler ran without a decoded request")
	}
	defer func() {
		if recover() == nil {
			t.Error("Token without a Validator did not panic")
		}
	}()
	router.Token{}.Middleware(h)
}
