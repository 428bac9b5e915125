package securitytest

import (
	"context"
	"errors"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// standIn consumes the node queue itself, as a hostile or broken agent
// would, and hands every request to the test.
type standIn struct {
	t        *testing.T
	ch       *amqp.Channel
	requests <-chan amqp.Delivery
}

func (w *world) standIn() *standIn {
	w.t.Helper()
	raw := w.rawClient()
	ch, err := raw.conn.Channel()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.topology.DeclareNodeQueue(ch, w.node); err != nil {
		w.t.Fatal(err)
	}
	d, err := ch.Consume(w.node, "", true, false, false, false, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	return &standIn{t: w.t, ch: ch, requests: d}
}

func (s *standIn) next() amqp.Delivery {
	s.t.Helper()
	select {
	case d := <-s.requests:
		return d
	case <-time.After(15 * time.Second):
		s.t.Fatal("no request reached the stand-in agent")
		return amqp.Delivery{}
	}
}

// reply publishes body to queue through the default exchange, as an agent
// answers.
func (s *standIn) reply(queue, correlationID string, body []byte) {
	s.t.Helper()
	err := s.ch.PublishWithContext(context.Background(), "", queue, false, false,
		amqp.Publishing{CorrelationId: correlationID, Body: body})
	if err != nil {
		s.t.Fatal(err)
	}
}

func response(id, msg string) []byte {
	return codec.EncodeResponse(&codec.Response{ID: id, Message: msg})
}

// TestSenderIgnoresStrayReplies: the sender has two connections (two reply
// queues); a reply whose correlation id nobody waits for, a reply to a waiting
// call delivered on the other connection's queue, and hostile reply bodies
// are each ignored with a log line; the waiting call gets the true answer.
func TestSenderIgnoresStrayReplies(t *testing.T) {
	w := newWorld(t, "stray")
	agent := w.standIn()
	// Two paths to one broker, the first through a proxy that can cut it.
	proxy := brokertest.ProxyTo(t, w.endpoints[0].URL)
	w.endpoints = []broker.Endpoint{{URL: proxy.URL("guest", "guest"), DialTimeout: time.Second}, w.endpoints[0]}
	log := newCaptureLog()
	s := w.startSender(token.NoTokens, log, func(c *rpc.Config) { c.PreferPrimary = true })

	testkit.Eventually(t, 20*time.Second, "both sender paths ready", func() bool {
		return s.Status()[0].Ready && s.Status()[1].Ready
	})
	// Learn the second path's reply queue from a call made while the first
	// path is down.
	proxy.SetMode(brokertest.Reset)
	testkit.Eventually(t, 10*time.Second, "first path down", func() bool { return !s.Status()[0].Ready })
	learnt := make(chan error, 1)
	go func() {
		_, err := s.Call(context.Background(), w.node+".math.add", []int{1, 1})
		learnt <- err
	}()
	d := agent.next()
	other := d.ReplyTo
	agent.reply(d.ReplyTo, d.CorrelationId, response("learn", "2"))
	if err := <-learnt; err != nil {
		t.Fatalf("call over the second path: %v", err)
	}
	proxy.SetMode(brokertest.Pass)
	testkit.Eventually(t, 20*time.Second, "first path back", func() bool { return s.Status()[0].Ready })

	type outcome struct {
		r   *rpc.Reply
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		r, err := s.Call(context.Background(), w.node+".math.add", []int{40, 2})
		done <- outcome{r, err}
	}()
	req := agent.next()
	if req.ReplyTo == other {
		t.Fatal("the call went over the second path; the first is preferred")
	}
	ev, err := codec.DecodeEvent(req.Body, codec.Options{})
	if err != nil {
		t.Fatal(err)
	}

	agent.reply(req.ReplyTo, uniq("nobody"), response(ev.ID, "666"))
	log.WaitFor(t, 5*time.Second, 1, "unknown call")
	agent.reply(req.ReplyTo, "", response(ev.ID, "666"))
	log.WaitFor(t, 5*time.Second, 2, "unknown call")
	agent.reply(other, req.CorrelationId, response(ev.ID, "666"))
	log.WaitFor(t, 5*time.Second, 1, "unexpected queue")
	for _, body := range [][]byte{[]byte(billionLaughs), {0, 0xff}} {
		agent.reply(req.ReplyTo, uniq("nobody"), body)
	}
	log.WaitFor(t, 5*time.Second, 4, "unknown call")
	// Over max_body_size: dropped unread, even with the waiting call's id.
	agent.reply(req.ReplyTo, req.CorrelationId, make([]byte, 2<<20))
	log.WaitFor(t, 5*time.Second, 1, "over max_body_size")
	if got := s.Stats().OversizeReplies; got != 1 {
		t.Errorf("Stats().OversizeReplies = %d, want 1", got)
	}
	select {
	case o := <-done:
		t.Fatalf("the call ended on a stray reply: %v %v", o.r, o.err)
	default:
	}

	agent.reply(req.ReplyTo, req.CorrelationId, response(ev.ID, "42"))
	o := testkit.Receive(t, done, 10*time.Second, "the true reply did not end the call")
	if o.err != nil || o.r.Raw != "42" {
		t.Fatalf("call: %v %v; want 42", o.r, o.err)
	}
}

// TestHostileReplyToWaitingCallIsAnErrorNotACrash: an agent (or anyone who can
// publish to the reply queue and guessed the correlation id) answers with a
// body the codec refuses; the call fails with an error that says so. (A body
// over max_body_size never reaches the call: TestSenderIgnoresStrayReplies.)
func TestHostileReplyToWaitingCallIsAnErrorNotACrash(t *testing.T) {
	w := newWorld(t, "hostile-reply")
	agent := w.standIn()
	s := w.startSender(token.NoTokens, nil)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"billion laughs", []byte(billionLaughs)},
		{"invalid UTF-8", []byte("<?xml version=\"1.0\"?><response><id>\xff</id><message>1</message></response>")},
		{"NUL", []byte("<?xml version=\"1.0\"?><response><id>\x00</id><message>1</message></response>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := s.Call(context.Background(), w.node+".math.add", []int{1})
				done <- err
			}()
			req := agent.next()
			agent.reply(req.ReplyTo, req.CorrelationId, tc.body)
			err := testkit.Receive(t, done, 10*time.Second, "the call did not end")
			var re *rpc.RemoteError
			if err == nil || errors.As(err, &re) {
				t.Fatalf("call: %v; want a local decode error", err)
			}
			t.Logf("call: %v", err)
		})
	}
}

// TestPoisonReplyCostsTheSenderOneReconnect: a reply whose headers nest
// deeper than amqp091-go parses (32) closes the sender's connection. Its
// reply queue is exclusive and no-ack, so the message dies with it: the
// waiting call fails as connection lost, and the sender serves again after
// one reconnect (unlike an agent, see TestPoisonHeaderDoesNotStopTheAgent).
func TestPoisonReplyCostsTheSenderOneReconnect(t *testing.T) {
	w := newWorld(t, "poison-reply")
	agent := w.standIn()
	log := newCaptureLog()
	s := w.startSender(token.NoTokens, log)
	done := make(chan error, 1)
	go func() {
		_, err := s.Call(context.Background(), w.node+".math.add", []int{1})
		done <- err
	}()
	req := agent.next()
	deep := amqp.Table{"v": "leaf"}
	for range 40 {
		deep = amqp.Table{"t": deep}
	}
	err := agent.ch.PublishWithContext(context.Background(), "", req.ReplyTo, false, false,
		amqp.Publishing{CorrelationId: req.CorrelationId, Headers: amqp.Table{"x-deep": deep}, Body: response("1", "666")})
	if err != nil {
		t.Fatal(err)
	}
	err = testkit.Receive(t, done, 15*time.Second, "the call did not end")
	if !errors.Is(err, rpc.ErrConnectionLost) {
		t.Fatalf("call: %v; want ErrConnectionLost", err)
	}
	go func() {
		r, err := s.Call(context.Background(), w.node+".math.add", []int{1})
		if err == nil && r.Raw != "1" {
			err = errors.New("wrong reply " + r.Raw)
		}
		done <- err
	}()
	req = agent.next()
	agent.reply(req.ReplyTo, req.CorrelationId, response("1", "1"))
	if err := <-done; err != nil {
		t.Fatalf("call after the reconnect: %v", err)
	}
}
