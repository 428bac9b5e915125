package testkit

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Dial connects to url and opens a channel, failing the test when either
// fails; the connection is closed when the test ends (a test may close it
// sooner). For tests that play a peer by hand: declare, publish, consume,
// inspect.
func Dial(t testing.TB, url string) (*amqp.Connection, *amqp.Channel) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("testkit: dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("testkit: channel: %v", err)
	}
	return conn, ch
}

// Channel is Dial's channel.
func Channel(t testing.TB, url string) *amqp.Channel {
	t.Helper()
	_, ch := Dial(t, url)
	return ch
}

// QueueState is what a passive declare of queue on the broker at url shows:
// its consumers and the messages ready in it. err is the broker's answer
// when the queue does not exist (a 404 *amqp.Error), or why it could not be
// asked. It opens a connection of its own, so a test may call it while its
// other connections are cut or blocked.
func QueueState(url, queue string) (consumers, ready int, err error) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return 0, 0, err
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		return 0, 0, err
	}
	return q.Consumers, q.Messages, nil
}

// TransientExchange declares a transient direct exchange named prefix and a
// random suffix, deleted when the test ends. A durable declare of that name
// is refused with 406 PRECONDITION_FAILED: a topology that does not match
// the broker's.
func TransientExchange(t testing.TB, url, prefix string) string {
	t.Helper()
	name := UniqueName(prefix)
	if err := Channel(t, url).ExchangeDeclare(name, amqp.ExchangeDirect, false, false, false, false, nil); err != nil {
		t.Fatalf("testkit: declare exchange %s: %v", name, err)
	}
	DeleteExchanges(t, url, name)
	return name
}

// Get takes the next message of queue with basic.get, unacked, polling
// until one is there; the test fails when none comes within timeout.
func Get(t testing.TB, ch *amqp.Channel, queue string, timeout time.Duration) amqp.Delivery {
	t.Helper()
	var d amqp.Delivery
	Eventually(t, timeout, "a message in "+queue, func() bool {
		var ok bool
		var err error
		if d, ok, err = ch.Get(queue, false); err != nil {
			t.Fatalf("testkit: get from %s: %v", queue, err)
		}
		return ok
	})
	return d
}
