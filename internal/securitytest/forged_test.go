package securitytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// replySpy is finding 2 of issue 16: a queue of its own bound to the
// exchange with the node's routing key gets a copy of every call, and the spy
// answers each to its reply_to, with its correlation id, before the agent
// does: forged replies of every kind, each published and confirmed by the
// broker before the call's service may finish (gated, so the forgeries are
// always first in the reply queue).
type replySpy struct {
	t      *testing.T
	ch     *amqp.Channel
	copies <-chan amqp.Delivery
	forged atomic.Int64 // forged replies confirmed by the broker

	mu    sync.Mutex
	ready map[string]chan struct{} // by event id: closed once its forgeries are in
}

// forgeriesPerCall is how many forged replies the spy sends for each call.
const forgeriesPerCall = 5

// tapNode is a hostile peer's view of the node: a confirm-mode channel of
// its own and a copy of every request, from a queue it bound to the
// exchange with the node's routing key (anyone allowed to bind can).
func (w *world) tapNode() (*amqp.Channel, <-chan amqp.Delivery) {
	w.t.Helper()
	raw := w.rawClient()
	ch, err := raw.conn.Channel()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		w.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, w.node, w.topology.ExchangeName(), false, nil); err != nil {
		w.t.Fatal(err)
	}
	copies, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return ch, copies
}

func (w *world) replySpy() *replySpy {
	w.t.Helper()
	ch, copies := w.tapNode()
	s := &replySpy{t: w.t, ch: ch, copies: copies, ready: map[string]chan struct{}{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go s.run(&wg)
	w.t.Cleanup(func() { _ = ch.Close(); wg.Wait() })
	return s
}

// gate is closed once the spy's forgeries for event id are in the reply
// queue.
func (s *replySpy) gate(id string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.ready[id]
	if g == nil {
		g = make(chan struct{})
		s.ready[id] = g
	}
	return g
}

// run forges replies to every copied call until the copies end.
func (s *replySpy) run(wg *sync.WaitGroup) {
	defer wg.Done()
	other := token.NewHMACTokens("not the secret", token.HMACOptions{})
	for d := range s.copies {
		ev, err := codec.DecodeEvent(d.Body, codec.Options{})
		if err != nil {
			s.t.Errorf("spy: copy does not decode: %v", err)
			continue
		}
		body := response(ev.ID, "666")
		wrongSig := other.SignReply(&token.Reply{CallID: ev.ID, CorrelationID: d.CorrelationId, Body: body})
		// A signature of the agent's secret over another reply cannot be
		// had; the closest are a signature of another secret, garbage, none,
		// the call's own signature header, and a forged error.
		forgeries := []amqp.Table{
			nil,
			{token.HeaderSignature: wrongSig},
			{token.HeaderSignature: "00"},
			{token.HeaderSignature: d.Headers[token.HeaderSignature]},
			{codec.HeaderErrorCode: string(codec.CodeBadToken), codec.HeaderErrorMessage: codec.TextTokenNotValid},
		}
		for _, h := range forgeries {
			dc, err := s.ch.PublishWithDeferredConfirmWithContext(context.Background(), "", d.ReplyTo, false, false,
				amqp.Publishing{CorrelationId: d.CorrelationId, Headers: h, Body: body})
			if err == nil {
				var ok bool
				if ok, err = dc.WaitContext(context.Background()); err == nil && !ok {
					err = errors.New("nacked")
				}
			}
			if err != nil {
				s.t.Errorf("spy: forge: %v", err)
				return
			}
			s.forged.Add(1)
		}
		close(s.gate(ev.ID))
	}
}

// gatedAdd is math.add that answers only once the spy's forgeries for the
// call are in its reply queue.
func gatedAdd(spy *replySpy) func(*router.Agent) {
	return func(a *router.Agent) {
		a.AddRPCService("math", "gated", func(ctx context.Context, req *router.Request) (any, error) {
			select {
			case <-spy.gate(req.ID):
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("the spy did not forge replies to %s within 10s", req.ID)
			}
			var p []int
			if err := req.Decode(&p); err != nil {
				return nil, err
			}
			return p[0] + p[1], nil
		})
	}
}

// TestForgedRepliesLoseInHMACMode: in hmac mode the agent signs each reply
// over the call's id, correlation id, body and error headers; every forged
// reply reaches the sender before the true one and is ignored, counted and
// logged (rate-limited); every call gets its true answer.
func TestForgedRepliesLoseInHMACMode(t *testing.T) {
	w := newWorld(t, "forged-hmac")
	secret := uniq("secret")
	spy := w.replySpy()
	w.services = gatedAdd(spy)
	w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), nil)
	log := newCaptureLog()
	s := w.startSender(token.NewHMACTokens(secret, token.HMACOptions{}), log)

	const calls, callers = 60, 6
	var wg sync.WaitGroup
	var forgedWon, failed atomic.Int64
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < calls; i += callers {
				r, err := s.Call(context.Background(), w.node+".math.gated", []int{i, 1000})
				switch {
				case err != nil:
					failed.Add(1)
					t.Errorf("call %d: %v", i, err)
				case r.Raw == "666":
					forgedWon.Add(1)
				case r.Raw != fmt.Sprint(i+1000):
					t.Errorf("call %d answered %q", i, r.Raw)
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if forgedWon.Load() != 0 || failed.Load() != 0 {
		t.Fatalf("%d forged results accepted, %d calls failed, of %d", forgedWon.Load(), failed.Load(), calls)
	}
	if got, want := spy.forged.Load(), int64(calls*forgeriesPerCall); got != want {
		t.Fatalf("spy forged %d replies, want %d", got, want)
	}
	// Each forgery was in the queue before its call's true reply.
	if got := s.Stats().BadReplies; got != uint64(calls*forgeriesPerCall) {
		t.Errorf("Stats().BadReplies = %d, want %d", got, calls*forgeriesPerCall)
	}
	lines := log.Count("without a good signature")
	if lines == 0 || lines > 10*(int(took/time.Second)+2) {
		t.Errorf("%d log lines for %d bad replies in %s; want some, at most 10 a second", lines, calls*forgeriesPerCall, took)
	}
	t.Logf("%d calls, %d forged replies ignored, %d log lines, %s", calls, s.Stats().BadReplies, lines, took)
}

// TestForgedRepliesWinInDailyMode documents what daily mode (py-servicebus
// compatible) cannot do: a reply is not signed, so whoever may bind a queue to
// the exchange sees each call and answers first (docs/security.md).
func TestForgedRepliesWinInDailyMode(t *testing.T) {
	w := newWorld(t, "forged-daily")
	secret := uniq("secret")
	spy := w.replySpy()
	w.services = gatedAdd(spy)
	w.startAgent(token.NewDailyTokens(secret, nil), nil)
	s := w.startSender(token.NewDailyTokens(secret, nil), nil)
	for i := range 3 {
		r, err := s.Call(context.Background(), w.node+".math.gated", []int{i, 1})
		if err != nil || r.Raw != "666" {
			t.Fatalf("call %d: %v %v; want the spy's 666 (daily mode cannot tell)", i, r, err)
		}
	}
	if got := s.Stats().BadReplies; got != 0 {
		t.Errorf("Stats().BadReplies = %d in daily mode, want 0", got)
	}
	testkit.Eventually(t, 10*time.Second, "the spy forged for every call", func() bool { return spy.forged.Load() == 3*forgeriesPerCall })
}
