package failover_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

func TestWrapperPublishesOnTheFirstPublisherInOrder(t *testing.T) {
	a, b, c := newFake(nil), newFake(nil), newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b, c)})
	if err := w.Publish("NODE-01", msg("m1"), msg("m2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Publish("NODE-01", msg("m3")); err != nil {
		t.Fatal(err)
	}
	if got := a.taken(); !sameStrings(got, []string{"m1", "m2", "m3"}) {
		t.Errorf("first publisher took %v, want m1 m2 m3", got)
	}
	if b.callCount()+c.callCount() != 0 {
		t.Errorf("later publishers were called %d and %d times while the first took everything", b.callCount(), c.callCount())
	}
}

func TestWrapperMovesAMessageToTheNextPublisherThatTakesIt(t *testing.T) {
	a := newFake(failWith(errors.New("connection refused")))
	b := newFake(failWith(errors.New("nacked")))
	c := newFake(nil)
	d := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b, c, d)})
	if err := w.Publish("NODE-01", msg("m1")); err != nil {
		t.Fatal(err)
	}
	if got := c.taken(); !sameStrings(got, []string{"m1"}) {
		t.Errorf("third publisher took %v, want m1", got)
	}
	if a.callCount() != 1 || b.callCount() != 1 || d.callCount() != 0 {
		t.Errorf("calls a=%d b=%d d=%d, want 1 1 0", a.callCount(), b.callCount(), d.callCount())
	}
}

func TestWrapperSkipsAFailedPublisherForItsBackoffThenTriesItAgain(t *testing.T) {
	const backoff = 150 * time.Millisecond
	a := newFake(failWith(errors.New("broker A down")))
	b := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{
		Publishers: publishers(a, b),
		Backoff:    broker.Backoff{Initial: backoff, Max: backoff, Jitter: 0},
	})
	if err := w.Publish("n", msg("m0")); err != nil {
		t.Fatal(err)
	}
	failedAt := a.callTimes()[0]
	a.set(nil) // A is healthy again, but the Wrapper does not know yet

	// Within the backoff A is not called; B takes the messages.
	for i := 1; a.callCount() == 1; i++ {
		if err := w.Publish("n", msg(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
		if time.Since(failedAt) > 10*time.Second {
			t.Fatal("A was never tried again")
		}
		time.Sleep(2 * time.Millisecond)
	}
	retriedAt := a.callTimes()[1]
	if gap := retriedAt.Sub(failedAt); gap < backoff {
		t.Errorf("A tried again %s after it failed, before its backoff of %s", gap, backoff)
	}
	if len(b.taken()) == 0 {
		t.Error("B took nothing while A was skipped")
	}
	// A took the message it was retried with and is first again.
	nb := len(b.taken())
	if err := w.Publish("n", msg("after")); err != nil {
		t.Fatal(err)
	}
	if got := a.taken(); len(got) != 2 || got[1] != "after" {
		t.Errorf("A took %v, want the retried message and then \"after\"", got)
	}
	if len(b.taken()) != nb {
		t.Error("B took a message although A was back")
	}
}

func TestWrapperBackoffGrowsWithFailuresInARow(t *testing.T) {
	b0 := broker.Backoff{Initial: 20 * time.Millisecond, Max: 160 * time.Millisecond, Multiplier: 2, Jitter: 0}
	a := newFake(failWith(errors.New("down")))
	b := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), Backoff: b0})
	const tries = 6
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; a.callCount() < tries; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("A was tried %d times in 20 s", a.callCount())
		}
		if err := w.Publish("n", msg(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	calls := a.callTimes()
	for i := 1; i < tries; i++ {
		want := b0.Delay(i - 1)
		if gap := calls[i].Sub(calls[i-1]); gap < want {
			t.Errorf("try %d of A came %s after the one before, want at least its backoff %s", i+1, gap, want)
		}
	}
}

func TestWrapperErrorNamesEveryPublishersFailure(t *testing.T) {
	errA, errB, errC := errors.New("dial tcp: connection refused"), errors.New("delivery not confirmed"), errors.New("channel closed")
	a, b, c := newFake(failWith(errA)), newFake(failWith(errB)), newFake(failWith(errC))
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b, c), Names: []string{"rabbit-a", "rabbit-b", "rabbit-c"}})
	err := w.Publish("NODE-01", msg("m1"))
	if err == nil {
		t.Fatal("Publish succeeded with every publisher failing")
	}
	for _, target := range []error{failover.ErrNotPublished, errA, errB, errC} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(err, %q) = false; err: %v", target, err)
		}
	}
	for _, want := range []string{"publisher rabbit-a: dial tcp", "publisher rabbit-b: delivery not", "publisher rabbit-c: channel closed", "m1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	var pe *failover.WrapperPublishError
	if !errors.As(err, &pe) || pe.Published != 0 || pe.Total != 1 || pe.UUID != "m1" {
		t.Errorf("errors.As WrapperPublishError: %+v", pe)
	}

	// Without names, publishers are named by their index.
	a2, b2 := newFake(failWith(errA)), newFake(failWith(errB))
	w2 := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a2, b2), Backoff: broker.Backoff{Initial: time.Minute, Max: time.Minute}})
	err = w2.Publish("n", msg("x"))
	for _, want := range []string{"publisher 0: dial tcp", "publisher 1: delivery not"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestWrapperTriesPublishersInBackoffWhenNoOtherTakesTheMessage(t *testing.T) {
	a := newFake(failWith(errors.New("A blip")))
	b := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b), Backoff: broker.Backoff{Initial: time.Minute, Max: time.Minute}})
	if err := w.Publish("n", msg("m1")); err != nil {
		t.Fatal(err)
	}
	// A is in its one-minute backoff; now B fails too and A is back.
	a.set(nil)
	b.set(failWith(errors.New("B down")))
	if err := w.Publish("n", msg("m2")); err != nil {
		t.Fatalf("m2 not published although A takes it: %v", err)
	}
	if got := a.taken(); !sameStrings(got, []string{"m2"}) {
		t.Errorf("A took %v, want m2", got)
	}
	// When both are down and in backoff, both are still tried, and both named.
	a.set(failWith(errors.New("A down")))
	err := w.Publish("n", msg("m3"))
	if !errors.Is(err, failover.ErrNotPublished) || !strings.Contains(err.Error(), "publisher 0: A down") || !strings.Contains(err.Error(), "publisher 1: B down") {
		t.Errorf("m3: %v", err)
	}
}

func TestWrapperStopsACallAtTheFirstMessageNobodyTakes(t *testing.T) {
	refuseM2 := func(m *message.Message) error {
		if m.UUID == "m2" {
			return errors.New("refused " + m.UUID)
		}
		return nil
	}
	a, b := newFake(refuseM2), newFake(refuseM2)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b)})
	err := w.Publish("n", msg("m1"), msg("m2"), msg("m3"), msg("m4"))
	var pe *failover.WrapperPublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *WrapperPublishError", err)
	}
	if pe.Published != 1 || pe.Total != 4 || pe.UUID != "m2" || !errors.Is(err, failover.ErrNotPublished) {
		t.Errorf("got %+v", pe)
	}
	if !strings.Contains(err.Error(), "(2 of 4) not published, nor the 2 after it") {
		t.Errorf("error does not say what was left: %v", err)
	}
	if got := append(a.taken(), b.taken()...); !sameStrings(got, []string{"m1"}) {
		t.Errorf("published %v, want m1 only", got)
	}
}

func TestWrapperRefusesANilMessageBeforePublishingAny(t *testing.T) {
	a := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a)})
	err := w.Publish("n", msg("m1"), nil)
	if err == nil || !strings.Contains(err.Error(), "message 2 of 2 is nil") {
		t.Errorf("err = %v", err)
	}
	if a.callCount() != 0 {
		t.Errorf("%d messages published", a.callCount())
	}
}

func TestWrapperTurnsAPanickingPublisherIntoAFailure(t *testing.T) {
	a := newFake(func(*message.Message) error { panic("bug in a publisher") })
	b := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b)})
	if err := w.Publish("n", msg("m1")); err != nil {
		t.Fatal(err)
	}
	if !sameStrings(b.taken(), []string{"m1"}) {
		t.Errorf("B took %v", b.taken())
	}
	b.set(failWith(errors.New("B down")))
	if err := w.Publish("n", msg("m2")); err == nil || !strings.Contains(err.Error(), "publisher 0: publisher panicked: bug in a publisher") {
		t.Errorf("err = %v", err)
	}
}

func TestWrapperGivesEachPublisherACopyOfTheMessage(t *testing.T) {
	var seen *message.Message
	a := newFake(func(m *message.Message) error { seen = m; return nil })
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a)})
	orig := msg("m1")
	orig.Metadata.Set("amqp.reply_to", "replies")
	if err := w.Publish("n", orig); err != nil {
		t.Fatal(err)
	}
	if seen == orig {
		t.Fatal("the publisher got the caller's message itself")
	}
	if seen.UUID != "m1" || string(seen.Payload) != string(orig.Payload) || seen.Metadata.Get("amqp.reply_to") != "replies" {
		t.Errorf("copy differs: uuid %q payload %q metadata %v", seen.UUID, seen.Payload, seen.Metadata)
	}
	if _, ok := seen.Context().Deadline(); !ok {
		t.Error("the publisher's message has no deadline: AttemptTimeout not applied")
	}
}

// Every publisher in backoff is tried in turn when no other takes the
// message: the first of them failing again does not end the attempt.
func TestWrapperTriesEveryPublisherInBackoffInTurn(t *testing.T) {
	a := newFake(failWith(errors.New("A down")))
	b := newFake(failWith(errors.New("B down")))
	c := newFake(nil)
	w := newWrapper(t, failover.WrapperConfig{Publishers: publishers(a, b, c), Backoff: broker.Backoff{Initial: time.Minute, Max: time.Minute}})
	if err := w.Publish("n", msg("m1")); err != nil {
		t.Fatal(err)
	}
	// A and B are in their one-minute backoff; C fails, A still fails, B is back.
	b.set(nil)
	c.set(failWith(errors.New("C down")))
	if err := w.Publish("n", msg("m2")); err != nil {
		t.Fatalf("m2 not published although B takes it: %v", err)
	}
	if got := b.taken(); !sameStrings(got, []string{"m2"}) {
		t.Errorf("B took %v, want m2", got)
	}
}
