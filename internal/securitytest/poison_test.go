package securitytest

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// One message must not stop an agent: AMQP headers nested deeper than 32
// tables/arrays are accepted by RabbitMQ, but amqp091-go (maxFieldDepth = 32)
// cannot parse the delivery and closes the whole connection; the broker
// requeues it and hands it out again at every connect. The agent takes it off
// the queue head after two such losses (compat topology; durable topology
// dead-letters it through the queue's delivery limit) and serves again.
func TestPoisonHeaderDoesNotStopTheAgent(t *testing.T) {
	w := newWorld(t, "poison")
	log := newCaptureLog()
	w.startAgent(token.NoTokens, log)
	raw := w.rawClient()
	deep := amqp.Table{"v": "leaf"}
	for range 40 {
		deep = amqp.Table{"t": deep}
	}
	raw.publish(testkit.PyCall(uniq("ev"), "", "math", "add", "[1, 2]"), amqp.Table{"x-deep": deep}, false)
	log.WaitFor(t, 10*time.Second, 1, "connection lost")
	expectResult(t, raw.call(testkit.PyCall(uniq("ev"), "", "math", "add", "[40, 2]"), nil), "42")
}
