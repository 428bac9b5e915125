package codec_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// codec.Marshaler is a watermill-amqp Marshaler. The check lives in a test
// so that package codec, which every part of servicebus imports, does not
// link watermill-amqp into programs that never use it; CI compiles it with
// every test run and go vet, so a change of the interface breaks the build.
var _ wamqp.Marshaler = codec.Marshaler{}

// pyCall is a call as py-servicebus publishes it: the envelope as body,
// reply_to and correlation_id as properties, no headers, no message id.
func pyCall(id string) amqp.Publishing {
	ev := codec.Event{Version: "1", ID: id, Token: token.DailyToken("secret", time.Now(), nil), Category: "math", Service: "add", Params: json.RawMessage("[1, 2]")}
	return amqp.Publishing{Body: codec.EncodeEvent(&ev), ReplyTo: "py-replies-" + id, CorrelationId: "corr-" + id}
}

// brokerChannel opens a plain amqp091-go channel, closed at the end of the
// test after the queues are deleted.
func brokerChannel(t *testing.T, url string, queues ...string) *amqp.Channel {
	t.Helper()
	conn, ch := testkit.Dial(t, url)
	t.Cleanup(func() {
		for _, q := range queues {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
		_ = conn.Close()
	})
	return ch
}

// subscribeOne reads one message of queue (declared with queueCfg's
// arguments) through a watermill-amqp subscriber with codec.Marshaler.
func subscribeOne(t *testing.T, url, queue string, queueCfg wamqp.QueueConfig) *message.Message {
	t.Helper()
	queueCfg.GenerateName = wamqp.GenerateQueueNameConstant(queue)
	sub, err := wamqp.NewSubscriber(wamqp.Config{
		Connection:      wamqp.ConnectionConfig{AmqpURI: url},
		Marshaler:       codec.Marshaler{},
		Exchange:        wamqp.ExchangeConfig{GenerateName: wamqp.GenerateExchangeNameConstant("")},
		Queue:           queueCfg,
		QueueBind:       wamqp.QueueBindConfig{GenerateRoutingKey: func(string) string { return "" }},
		Consume:         wamqp.ConsumeConfig{Qos: wamqp.QosConfig{PrefetchCount: 1}},
		TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sub.Close(); err != nil {
			t.Errorf("subscriber Close: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, queue)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if m == nil {
			t.Fatal("subscription closed without a message")
		}
		m.Ack()
		return m
	case <-ctx.Done():
		t.Fatalf("the watermill-amqp subscriber read nothing from %s", queue)
		return nil
	}
}

// checkPyCall checks what a py-servicebus call keeps through the subscriber.
func checkPyCall(t *testing.T, m *message.Message, sent amqp.Publishing) {
	t.Helper()
	if string(m.Payload) != string(sent.Body) {
		t.Errorf("payload changed:\n%s", m.Payload)
	}
	if got := m.Metadata.Get(codec.MetaReplyTo); got != sent.ReplyTo {
		t.Errorf("reply_to %q, want %q", got, sent.ReplyTo)
	}
	if got := m.Metadata.Get(codec.MetaCorrelationID); got != sent.CorrelationId {
		t.Errorf("correlation_id %q, want %q", got, sent.CorrelationId)
	}
	if ev, err := codec.DecodeEvent(m.Payload, codec.Options{}); err != nil || ev.Category != "math" {
		t.Errorf("envelope: %+v %v", ev, err)
	}
}

// A py-servicebus call that was rejected and dead-lettered carries x-death,
// an array of tables: watermill-amqp's DefaultMarshaler refuses it, a
// subscriber with codec.Marshaler reads it with reply_to and correlation_id.
func TestWatermillAMQPSubscriberReadsDeadLetteredPyServicebusCall(t *testing.T) {
	url := brokertest.RequireBroker(t)
	src, dead := testkit.UniqueName("sbtest-wamqp-src"), testkit.UniqueName("sbtest-wamqp-dead")
	ch := brokerChannel(t, url, src, dead)
	if _, err := ch.QueueDeclare(dead, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(src, false, false, false, false, amqp.Table{
		"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead,
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sent := pyCall("42")
	for range 2 {
		if err := ch.PublishWithContext(ctx, "", src, false, false, sent); err != nil {
			t.Fatal(err)
		}
		if err := testkit.Get(t, ch, src, 10*time.Second).Nack(false, false); err != nil {
			t.Fatal(err)
		}
	}
	// The first dead letter, as it is: the header the test is about is there
	// and is not a string.
	raw := testkit.Get(t, ch, dead, 10*time.Second)
	if _, ok := raw.Headers["x-death"].([]any); !ok {
		t.Fatalf("x-death is %T %v, want an array of tables", raw.Headers["x-death"], raw.Headers["x-death"])
	}
	if _, err := (wamqp.DefaultMarshaler{}).Unmarshal(raw); err == nil {
		t.Error("watermill-amqp's DefaultMarshaler read x-death: the premise of this test is gone")
	}
	_ = raw.Ack(false)

	m := subscribeOne(t, url, dead, wamqp.QueueConfig{})
	checkPyCall(t, m, sent)
	var deaths []struct {
		Reason string `json:"reason"`
		Queue  string `json:"queue"`
		Count  int    `json:"count"`
	}
	if err := json.Unmarshal([]byte(m.Metadata.Get("x-death")), &deaths); err != nil || len(deaths) != 1 ||
		deaths[0].Reason != "rejected" || deaths[0].Queue != src || deaths[0].Count != 1 {
		t.Errorf("x-death %q (%v), want one death, rejected from %s", m.Metadata.Get("x-death"), err, src)
	}
	if got := m.Metadata.Get("x-first-death-reason"); got != "rejected" {
		t.Errorf("x-first-death-reason %q", got)
	}
}

// A py-servicebus call returned to a quorum queue comes back with
// x-delivery-count, a number.
func TestWatermillAMQPSubscriberReadsRedeliveredCallFromAQuorumQueue(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-wamqp-quorum")
	ch := brokerChannel(t, url, q)
	quorum := amqp.Table{"x-queue-type": "quorum"}
	if _, err := ch.QueueDeclare(q, true, false, false, false, quorum); err != nil {
		t.Fatal(err)
	}
	sent := pyCall("43")
	if err := ch.PublishWithContext(context.Background(), "", q, false, false, sent); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Get(t, ch, q, 10*time.Second).Nack(false, true); err != nil {
		t.Fatal(err)
	}

	m := subscribeOne(t, url, q, wamqp.QueueConfig{Durable: true, Arguments: quorum})
	checkPyCall(t, m, sent)
	if got := m.Metadata.Get("x-delivery-count"); got != "1" {
		t.Errorf("x-delivery-count %q, want 1; metadata %v", got, m.Metadata)
	}
	if got := m.Metadata.Get(codec.MetaRedelivered); got != "true" {
		t.Errorf("redelivered %q, want true", got)
	}
}
