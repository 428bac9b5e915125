//go:build knownbug

package securitytest

import (
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
	amqp "github.com/rabbitmq/amqp091-go"
)

// TestPoisonHeaderDoesNotStopTheAgent shows a denial of service by one
// message: AMQP headers nested deeper than 32 tables/arrays are accepted by
// RabbitMQ, but amqp091-go (read.go, maxFieldDepth = 32) fails to parse the
// delivery with ErrSyntax and closes the whole connection. The delivery was
// unacked, so the broker requeues it and hands it to the agent again at the
// next connect: the agent reconnects ~10 times a second and serves nothing on
// that broker, for as long as the message stays in the queue.
//
// Measured: compat topology, 210 connection losses in 20 s, Consuming() 0.
// With durable topology and a delivery limit on the quorum node queue
// (policy {"delivery-limit": 3}) the broker drops/dead-letters it after 4
// losses and the agent serves again — so durable topology should declare
// x-delivery-limit; compat topology (classic queue) has no such remedy.
func TestPoisonHeaderDoesNotStopTheAgent(t *testing.T) {
	w := newWorld(t, "poison")
	log := newCaptureLog()
	w.startAgent(codec.NoTokens, log)
	raw := w.rawClient()
	deep := amqp.Table{"v": "leaf"}
	for range 40 {
		deep = amqp.Table{"t": deep}
	}
	raw.publish(pyCall(uniq("ev"), "", "math", "add", "[1, 2]"), amqp.Table{"x-deep": deep}, false)
	log.WaitFor(t, 10*time.Second, 1, "connection lost")
	expectResult(t, raw.call(pyCall(uniq("ev"), "", "math", "add", "[40, 2]"), nil), "42")
}
