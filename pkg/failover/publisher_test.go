package failover_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// The failover loop itself is tested in internal/publish, the engine this
// Publisher fronts; here, what the front adds: Watermill's Publish.
func TestWatermillPublishUsesTopicAsRoutingKey(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-wm")
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	testkit.DeleteQueues(t, url, q)
	p, err := failover.NewPublisher(failover.PublisherConfig{Endpoints: []broker.Endpoint{{URL: url}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testkit.Eventually(t, 10*time.Second, "path 0 ready", func() bool { return p.Ready(0) })
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

// On the default exchange the topic is the queue: an empty one is refused
// before anything is published, with an error that says so (the broker
// would return the message as unroutable).
func TestWatermillPublishRefusesAnEmptyTopicOnTheDefaultExchange(t *testing.T) {
	url := brokertest.RequireBroker(t)
	p, err := failover.NewPublisher(failover.PublisherConfig{Endpoints: []broker.Endpoint{{URL: url}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	testkit.Eventually(t, 10*time.Second, "path 0 ready", func() bool { return p.Ready(0) })
	err = p.Publish("", message.NewMessage("uuid-2", []byte("payload")))
	if err == nil || !strings.Contains(err.Error(), "empty topic") {
		t.Fatalf("Publish with an empty topic on the default exchange: %v, want the empty-topic error", err)
	}
}
