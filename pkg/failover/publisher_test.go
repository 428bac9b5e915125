package failover_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

func newPublisher(t *testing.T, urls ...string) *failover.Publisher {
	t.Helper()
	cfg := failover.PublisherConfig{PreferPrimary: true, ConfirmTimeout: 2 * time.Second}
	for _, u := range urls {
		cfg.Endpoints = append(cfg.Endpoints, broker.Endpoint{URL: u, DialTimeout: time.Second})
	}
	p, err := failover.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// declareQueue declares queue on url and deletes it at the end.
func declareQueue(t *testing.T, url, queue string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(queue, false, false, false)
		_ = conn.Close()
	})
	return ch
}

func waitReady(t *testing.T, p *failover.Publisher, i int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, fmt.Sprintf("path %d ready", i), func() bool { return p.Ready(i) })
}

func TestWatermillPublishUsesTopicAsRoutingKey(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-wm")
	ch := declareQueue(t, url, q)
	p := newPublisher(t, url)
	waitReady(t, p, 0)
	var pub message.Publisher = p
	msg := message.NewMessage("uuid-1", []byte("payload"))
	msg.Metadata.Set("amqp.correlation_id", "c-1")
	if err := pub.Publish(q, msg); err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(q, true)
	if err != nil || !ok {
		t.Fatalf("Get: ok %v err %v", ok, err)
	}
	if string(d.Body) != "payload" || d.CorrelationId != "c-1" || d.MessageId != "uuid-1" {
		t.Fatalf("got body %q correlation %q id %q", d.Body, d.CorrelationId, d.MessageId)
	}
}
