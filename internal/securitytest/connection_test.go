package securitytest

import (
	"context"
	"fmt"
	"strings"
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

// secret is the shared secret of these tests' daily tokens.
const secret = "connection test secret"

// goodCallBound is how long a good call may wait behind hostile ones: the
// promise of docs/security.md is 2 s. A good call behind 64 calls with a
// 140 KB service name took 62 ms without -race and 400 ms with it on an
// idle machine (the detector slows the agent's scanning of the names about
// 6x), and up to 3 s with it at load average 15: under -race the bound is
// four times the promise. make test also runs these tests without -race,
// where the promise is asserted as published.
func goodCallBound() time.Duration {
	if testkit.Race {
		return 8 * time.Second
	}
	return 2 * time.Second
}

// goodCallsKeepGoing calls math.add every 50 ms until stop and fails the
// test if one is not answered within goodCallBound.
func goodCallsKeepGoing(t *testing.T, c *rawClient, token string, stop <-chan struct{}) *sync.WaitGroup {
	bound := goodCallBound()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			start := time.Now()
			select {
			case d := <-c.publish(testkit.PyCall("good", token, "math", "add", "[1, 2]"), nil, true):
				if got := replyText(t, d); got != "3" {
					t.Errorf("good call %d answered %q", i, got)
				}
			case <-time.After(bound):
				t.Errorf("good call %d not answered within %s", i, bound)
				return
			}
			if took := time.Since(start); took > bound {
				t.Errorf("good call %d answered after %s", i, took)
			}
		}
	}()
	return &wg
}

// Finding 1 of the hostile-input review: a caller with a valid token and a
// service name of 140,000 bytes. Echoed whole in x-sb-error-message, the
// error reply's header frame was past frame_max, the broker closed the
// agent's connection, the call came back, and the node served nothing.
func TestHugeServiceNameIsAnsweredWithoutLosingTheConnection(t *testing.T) {
	w := newWorld(t, "hugename")
	log := newCaptureLog()
	tokens := token.NewDailyTokens(secret, nil)
	w.startAgent(tokens, log)
	c := w.rawClient()
	tok := token.DailyToken(secret, time.Now(), time.Local)

	stop := make(chan struct{})
	good := goodCallsKeepGoing(t, c, tok, stop)
	huge := strings.Repeat("s", 140_000)
	var replies []<-chan amqp.Delivery
	for range 64 {
		replies = append(replies, c.publish(testkit.PyCall("huge", tok, "math", huge, "[]"), nil, true))
	}
	for i, r := range replies {
		d := testkit.Receive(t, r, 10*time.Second, fmt.Sprintf("call %d with a huge service name not answered", i))
		if code := errorCode(d); code != string(codec.CodeUnknownService) {
			t.Fatalf("reply %d: code %q, want %s", i, code, codec.CodeUnknownService)
		}
		msg, _ := d.Headers[codec.HeaderErrorMessage].(string)
		if len(msg) > router.MaxReplyText || len(replyText(t, d)) > router.MaxReplyText {
			t.Fatalf("reply %d echoes %d bytes of the name (header) / %d (body), want at most %d",
				i, len(msg), len(replyText(t, d)), router.MaxReplyText)
		}
	}
	close(stop)
	good.Wait()
	if n := log.Count("Broker connection lost"); n > 0 {
		t.Fatalf("the agent lost its connection %d times", n)
	}
	if size := len(log.All()); size > 100<<10 {
		t.Fatalf("%d bytes of log for 64 bad calls, want under 100 KiB", size)
	}
}

// A PING whose reply_to is a direct reply-to name RabbitMQ cannot decode:
// publishing the PONG there made the broker close the whole connection
// (541), before the PING was settled, at every reconnect.
func TestUndecodableDirectReplyToDoesNotCostTheConnection(t *testing.T) {
	w := newWorld(t, "badrt")
	log := newCaptureLog()
	a := w.startAgent(token.NewDailyTokens(secret, nil), log)
	c := w.rawClient()
	tok := token.DailyToken(secret, time.Now(), time.Local)
	for _, rt := range []string{"amq.rabbitmq.reply-to.Zm9v.YmFy", "amq.rabbitmq.reply-to.garbage", "amq.rabbitmq.reply-to.g2dkAA.AAAA"} {
		pub := amqp.Publishing{Body: codec.PingBody, ReplyTo: rt, CorrelationId: "c"}
		if err := c.ch.PublishWithContext(context.Background(), w.topology.ExchangeName(), w.node, false, false, pub); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "the bad PINGs settled", func() bool { return a.Stats().Rejected >= 3 })
	if d := c.call(testkit.PyCall("good", tok, "math", "add", "[1, 2]"), nil); replyText(t, d) != "3" {
		t.Fatalf("good call answered %q", replyText(t, d))
	}
	if n := log.Count("Broker connection lost"); n > 0 {
		t.Fatalf("the agent lost its connection %d times", n)
	}
}

// The net for causes not yet known: a direct reply-to name that looks
// right but names a channel of another node still makes RabbitMQ 3.10
// close the connection. Its request must stop coming back after the second
// loss, and the node must keep serving meanwhile.
func TestRequestWhoseReplyClosesTheConnectionTwiceIsRejected(t *testing.T) {
	w := newWorld(t, "poisonrt")
	log := newCaptureLog()
	a := w.startAgent(token.NewDailyTokens(secret, nil), log)
	c := w.rawClient()
	tok := token.DailyToken(secret, time.Now(), time.Local)

	stop := make(chan struct{})
	good := goodCallsKeepGoing(t, c, tok, stop)
	// NEW format checks out (an Erlang pid term, a 16-byte key), but the
	// pid is of a node that does not exist.
	forged := "amq.rabbitmq.reply-to.g2dkABNyYWJiaXRAbG9jYWxob3N0AAADxgAAAAAD.AAAAAAAAAAAAAAAAAAAAAA=="
	pub := amqp.Publishing{Body: codec.PingBody, ReplyTo: forged, CorrelationId: "poison"}
	if err := c.ch.PublishWithContext(context.Background(), w.topology.ExchangeName(), w.node, false, false, pub); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the poisoned request rejected", func() bool { return a.Stats().Poisoned == 1 })
	time.Sleep(500 * time.Millisecond) // any further loss would show by now
	close(stop)
	good.Wait()
	if n := log.Count("Broker connection lost"); n != 2 {
		t.Fatalf("the agent lost its connection %d times, want exactly 2 before rejecting the request", n)
	}
	if n := log.Count("Delivery rejected unrun"); n != 1 {
		t.Fatalf("%d log lines about the rejection, want 1", n)
	}
	testkit.Eventually(t, 10*time.Second, "agent consuming again", func() bool { return a.Consuming() == 1 })
}

// Finding 4: bad tokens with a 1,000,000-byte service name wrote two ~1 MB
// log lines each. Logged fields from a request are bounded, and repeated
// rejections rate-limited.
func TestRejectionsOfHugeInputKeepTheLogSmall(t *testing.T) {
	w := newWorld(t, "biglog")
	log := newCaptureLog()
	a := w.startAgent(token.NewDailyTokens(secret, nil), log)
	c := w.rawClient()
	huge := strings.Repeat("n", 1_000_000)
	var answered atomic.Int32
	var replies []<-chan amqp.Delivery
	for range 10 {
		replies = append(replies, c.publish(testkit.PyCall("id", "bad-token", "cat", huge, "[]"), nil, true))
		c.publish(testkit.PyCall("id", "bad-token", "cat", huge, "[]"), nil, false)
	}
	for _, r := range replies {
		d := testkit.Receive(t, r, 15*time.Second, "bad-token call not answered")
		if errorCode(d) == string(codec.CodeBadToken) {
			answered.Add(1)
		}
	}
	testkit.Eventually(t, 10*time.Second, "all 20 rejected", func() bool { return a.Stats().BadToken >= 20 })
	if answered.Load() != 10 {
		t.Fatalf("%d of 10 bad-token calls answered bad_token", answered.Load())
	}
	if size := len(log.All()); size > 100<<10 {
		t.Fatalf("%d bytes of log for 20 rejected messages, want under 100 KiB", size)
	}
}
