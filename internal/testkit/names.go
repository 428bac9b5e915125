package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// UniqueName is prefix and a random suffix: a queue, node or exchange name
// no other test on a shared broker uses.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// DeleteQueues deletes the named queues on the broker at url when the test
// ends, whatever its outcome; a queue already gone is fine.
func DeleteQueues(t testing.TB, url string, names ...string) {
	t.Helper()
	cleanup(t, url, names, func(ch *amqp.Channel, n string) { _, _ = ch.QueueDelete(n, false, false, false) })
}

// DeleteExchanges is DeleteQueues for exchanges.
func DeleteExchanges(t testing.TB, url string, names ...string) {
	t.Helper()
	cleanup(t, url, names, func(ch *amqp.Channel, n string) { _ = ch.ExchangeDelete(n, false, false) })
}

// cleanup runs del on each name when the test ends, each on a channel of
// its own: a failed delete closes its channel.
func cleanup(t testing.TB, url string, names []string, del func(ch *amqp.Channel, name string)) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, n := range names {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			del(ch, n)
			_ = ch.Close()
		}
	})
}
