package securitytest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// expectBadToken checks that d is the agent's bad-token answer: the text a
// py-servicebus caller knows and the structured code.
func expectBadToken(t *testing.T, d amqp.Delivery, what string) {
	t.Helper()
	if got := replyText(t, d); got != codec.TextTokenNotValid || errorCode(d) != string(codec.CodeBadToken) {
		t.Fatalf("%s: reply %q code %q; want %q with code %s", what, got, errorCode(d), codec.TextTokenNotValid, codec.CodeBadToken)
	}
}

func expectResult(t *testing.T, d amqp.Delivery, want string) {
	t.Helper()
	if got := replyText(t, d); got != want || errorCode(d) != "" {
		t.Fatalf("reply %q code %q; want result %q", got, errorCode(d), want)
	}
}

func TestHMACCallsWorkEndToEnd(t *testing.T) {
	w := newWorld(t, "hmac-ok")
	secret := uniq("secret")
	log := newCaptureLog()
	w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), log)
	s := w.startSender(token.NewHMACTokens(secret, token.HMACOptions{}), log)
	for i := 0; i < 3; i++ {
		r, err := s.Call(context.Background(), w.node+".math.add", []int{i, 2})
		if err != nil {
			t.Fatal(err)
		}
		if r.Raw != strconv.Itoa(i+2) {
			t.Fatalf("reply %q, want %d", r.Raw, i+2)
		}
	}
	// A sender with another secret is refused (bad_token); that reply is
	// signed with the agent's secret, which the sender cannot tell from a
	// forgery: its call times out with an error that says why.
	bad := w.startSender(token.NewHMACTokens(secret+"x", token.HMACOptions{}), log)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := bad.Call(ctx, w.node+".math.add", []int{1, 2})
	if !errors.Is(err, rpc.ErrTimeout) || !strings.Contains(err.Error(), "does the agent have this sender's secret_token?") {
		t.Fatalf("call with the wrong secret: %v; want a timeout that names the unverified reply", err)
	}
	if got := bad.Stats().BadReplies; got != 1 {
		t.Errorf("Stats().BadReplies = %d, want 1", got)
	}
	log.WaitFor(t, 5*time.Second, 1, "token not valid")
}

// TestHMACReplayOfCapturedMessageIsRejected captures a signed call as an
// eavesdropper on the broker would (a queue bound to the node's routing key)
// and publishes it again, byte for byte with its headers.
func TestHMACReplayOfCapturedMessageIsRejected(t *testing.T) {
	w := newWorld(t, "hmac-replay")
	secret := uniq("secret")
	log := newCaptureLog()
	agent := w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), log)
	s := w.startSender(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
	raw := w.rawClient()
	captured := raw.capture()

	if _, err := s.Call(context.Background(), w.node+".math.add", []int{20, 22}); err != nil {
		t.Fatal(err)
	}
	orig := captured()
	if orig.Headers[token.HeaderSignature] == nil || orig.Headers[token.HeaderTimestamp] == nil {
		t.Fatalf("captured call has no HMAC headers: %v", orig.Headers)
	}
	before := agent.Stats().BadToken
	expectBadToken(t, raw.call(orig.Body, orig.Headers), "replayed call")
	if got := agent.Stats().BadToken; got != before+1 {
		t.Fatalf("BadToken %d, want %d", got, before+1)
	}
	log.WaitFor(t, 5*time.Second, 1, "token not valid", "replay")

	// Replayed as a message (no reply_to) it is rejected too, not run.
	rejected := agent.Stats().Rejected
	raw.publish(orig.Body, orig.Headers, false)
	testkit.Eventually(t, 10*time.Second, "the replayed message rejected", func() bool { return agent.Stats().Rejected > rejected })

	// The agent still serves the honest sender.
	if r, err := s.Call(context.Background(), w.node+".math.add", []int{1, 1}); err != nil || r.Raw != "2" {
		t.Fatalf("after the replay: %v %v", r, err)
	}
}

// signed is a call signed by tokens at time at, ready to publish raw.
func signed(t *testing.T, tokens token.Signer, id string, params string, at time.Time) ([]byte, amqp.Table) {
	t.Helper()
	ev := codec.Event{Version: "1", ID: id, Category: "math", Service: "add", Params: []byte(params)}
	h, err := tokens.Sign(&ev, at)
	if err != nil {
		t.Fatal(err)
	}
	return codec.EncodeEvent(&ev), headersOf(h)
}

func TestHMACTimestampOutsideSkewIsRejected(t *testing.T) {
	w := newWorld(t, "hmac-skew")
	secret := uniq("secret")
	log := newCaptureLog()
	w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{Skew: 30 * time.Second}), log)
	raw := w.rawClient()
	signer := token.NewHMACTokens(secret, token.HMACOptions{})
	now := time.Now()

	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"past", now.Add(-2 * time.Minute)},
		{"future", now.Add(2 * time.Minute)},
		{"a day old", now.Add(-24 * time.Hour)},
	} {
		body, h := signed(t, signer, uniq("ev"), "[1, 2]", tc.at)
		expectBadToken(t, raw.call(body, h), tc.name)
	}
	log.WaitFor(t, 5*time.Second, 3, "token not valid", "skew")

	// Inside the window it is served (the rejection was the clock, nothing else).
	body, h := signed(t, signer, uniq("ev"), "[1, 2]", now.Add(-10*time.Second))
	expectResult(t, raw.call(body, h), "3")
}

func TestHMACAlteredMessageIsRejected(t *testing.T) {
	w := newWorld(t, "hmac-alter")
	secret := uniq("secret")
	log := newCaptureLog()
	agent := w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), log)
	raw := w.rawClient()
	signer := token.NewHMACTokens(secret, token.HMACOptions{})

	id := uniq("ev")
	ev := codec.Event{Version: "1", ID: id, Category: "math", Service: "add", Params: []byte("[1, 2]")}
	h, err := signer.Sign(&ev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alter := func(f func(*codec.Event)) []byte {
		e := ev
		f(&e)
		return codec.EncodeEvent(&e)
	}
	cases := []struct {
		name    string
		body    []byte
		headers amqp.Table
	}{
		{"params", alter(func(e *codec.Event) { e.Params = []byte("[1, 2000]") }), headersOf(h)},
		{"service", alter(func(e *codec.Event) { e.Category = "text"; e.Service = "echo" }), headersOf(h)},
		{"id", alter(func(e *codec.Event) { e.ID = uniq("other") }), headersOf(h)},
		{"timestamp header", codec.EncodeEvent(&ev), func() amqp.Table {
			t := headersOf(h)
			ts, _ := strconv.ParseInt(h[token.HeaderTimestamp], 10, 64)
			t[token.HeaderTimestamp] = strconv.FormatInt(ts+1, 10)
			return t
		}()},
		{"signature removed", codec.EncodeEvent(&ev), amqp.Table{token.HeaderTimestamp: h[token.HeaderTimestamp]}},
		{"no headers", codec.EncodeEvent(&ev), nil},
	}
	for _, tc := range cases {
		expectBadToken(t, raw.call(tc.body, tc.headers), "altered "+tc.name)
	}
	if got := agent.Stats().BadToken; got < uint64(len(cases)) {
		t.Fatalf("BadToken %d, want at least %d", got, len(cases))
	}
	log.WaitFor(t, 5*time.Second, 4, "token not valid", "signature")
	// The unaltered original was never admitted, so it is served now.
	expectResult(t, raw.call(codec.EncodeEvent(&ev), headersOf(h)), "3")
}

// TestDailyTokenServesPyServicebusShapedCalls: a call laid out as py-servicebus
// writes it, with the token of today (and of yesterday and tomorrow) is
// served; another day's or another secret's token is refused.
func TestDailyTokenServesPyServicebusShapedCalls(t *testing.T) {
	w := newWorld(t, "daily")
	secret := uniq("secret")
	log := newCaptureLog()
	w.startAgent(token.NewDailyTokens(secret, time.Local), log)
	raw := w.rawClient()
	now := time.Now()
	day := 24 * time.Hour

	for _, at := range []time.Time{now, now.Add(-day), now.Add(day)} {
		body := testkit.PyCall(uniq("ev"), token.DailyToken(secret, at, time.Local), "math", "add", "[1, 2]")
		expectResult(t, raw.call(body, nil), "3")
	}
	for name, tok := range map[string]string{
		"three days old": token.DailyToken(secret, now.Add(-3*day), time.Local),
		"other secret":   token.DailyToken(secret+"x", now, time.Local),
		"empty":          "",
	} {
		body := testkit.PyCall(uniq("ev"), tok, "math", "add", "[1, 2]")
		expectBadToken(t, raw.call(body, nil), name)
	}
	log.WaitFor(t, 5*time.Second, 3, "token not valid")
	if n := log.Count(token.DailyToken(secret, now, time.Local)); n != 0 {
		t.Fatalf("today's daily token (a credential) appears in %d log lines", n)
	}
}

// TestDailyTokenIsReplayable documents the daily mode's weakness (see
// docs/security.md): a captured call is accepted again, and its token signs
// any other call of the same three days.
func TestDailyTokenIsReplayable(t *testing.T) {
	w := newWorld(t, "daily-replay")
	secret := uniq("secret")
	w.startAgent(token.NewDailyTokens(secret, time.Local), nil)
	s := w.startSender(token.NewDailyTokens(secret, time.Local), nil)
	raw := w.rawClient()
	captured := raw.capture()
	if _, err := s.Call(context.Background(), w.node+".math.add", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	orig := captured()
	expectResult(t, raw.call(orig.Body, orig.Headers), "3")
	ev, err := codec.DecodeEvent(orig.Body, codec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	forged := testkit.PyCall(uniq("ev"), ev.Token, "math", "add", "[1000, 2000]")
	expectResult(t, raw.call(forged, nil), "3000")
}

// TestHMACSignatureIsNotBoundToTheNodeOrReplyTo documents the limits of the
// HMAC mode (see docs/security.md): the signature covers id, category,
// service, params and timestamp, not the routing key (node) nor reply_to,
// and the replay cache lives in one agent process. So within the skew
// window a captured call is accepted once by every other agent process
// sharing the secret — here another node — and its reply goes wherever the
// republisher's reply_to says.
func TestHMACSignatureIsNotBoundToTheNodeOrReplyTo(t *testing.T) {
	a := newWorld(t, "hmac-node-a")
	b := newWorld(t, "hmac-node-b")
	b.topology = a.topology // the same exchange, another node
	secret := uniq("secret")
	a.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
	b.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
	s := a.startSender(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
	captured := a.rawClient().capture()
	if _, err := s.Call(context.Background(), a.node+".math.add", []int{1, 2}); err != nil {
		t.Fatal(err)
	}
	orig := captured()
	// Republished to node b with the eavesdropper's reply_to: served.
	expectResult(t, b.rawClient().call(orig.Body, orig.Headers), "3")
}
