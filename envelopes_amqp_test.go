package servicebus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// publisherConfig is a watermill-amqp publisher that agents understand:
// py-servicebus's exchange declared as py-servicebus declares it (direct,
// not durable), routing key = topic = node, confirms, a channel pool and
// codec.Marshaler.
func publisherConfig(url, exchange string) wamqp.Config {
	return wamqp.Config{
		Connection: wamqp.ConnectionConfig{AmqpURI: url},
		Marshaler:  codec.Marshaler{},
		Exchange: wamqp.ExchangeConfig{
			GenerateName: wamqp.GenerateExchangeNameConstant(exchange),
			Type:         "direct",
		},
		Publish: wamqp.PublishConfig{
			GenerateRoutingKey: func(node string) string { return node },
			ConfirmDelivery:    true,
			ChannelPoolSize:    4,
		},
		TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
	}
}

// replySubscriber reads the replies of calls from an auto-delete queue of
// its own through the default exchange, with codec.Marshaler.
func replySubscriber(url, queue string) wamqp.Config {
	return wamqp.Config{
		Connection: wamqp.ConnectionConfig{AmqpURI: url},
		Marshaler:  codec.Marshaler{},
		Exchange:   wamqp.ExchangeConfig{GenerateName: wamqp.GenerateExchangeNameConstant("")},
		Queue: wamqp.QueueConfig{
			GenerateName: wamqp.GenerateQueueNameConstant(queue),
			AutoDelete:   true,
		},
		QueueBind:       wamqp.QueueBindConfig{GenerateRoutingKey: func(string) string { return "" }},
		Consume:         wamqp.ConsumeConfig{Qos: wamqp.QosConfig{PrefetchCount: 16}},
		TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
	}
}

// A Watermill user with a watermill-amqp publisher behind a Wrapper calls
// and sends to a servicebus agent with the messages Envelopes builds, and
// reads the reply with a watermill-amqp subscriber.
func TestEnvelopesOverWatermillAMQPReachAnAgent(t *testing.T) {
	cfg := brokerConfig(t)
	url := brokertest.RequireBroker(t)
	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, p []int) (int, error) {
		return p[0] + p[1], nil
	}))
	var mu sync.Mutex
	sent := map[string][]int{} // Request.ID -> params
	agent.AddMessageService("math", "add", func(_ context.Context, req *servicebus.Request) error {
		var p []int
		if err := req.Decode(&p); err != nil {
			return err
		}
		mu.Lock()
		sent[req.ID] = p
		mu.Unlock()
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	testkit.Eventually(t, 10*time.Second, "agent consuming", func() bool { return agent.Consuming() == 1 })

	pub, err := wamqp.NewPublisher(publisherConfig(url, cfg.ExchangeName), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := failover.NewWrapper(failover.WrapperConfig{Publishers: []message.Publisher{pub}, ClosePublishers: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	replyQueue := cfg.NodeName + ".replies"
	sub, err := wamqp.NewSubscriber(replySubscriber(url, replyQueue), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	replies, err := sub.Subscribe(ctx, replyQueue)
	if err != nil {
		t.Fatal(err)
	}
	envelopes, err := servicebus.NewEnvelopes(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// A call: the reply comes back to our queue with our correlation id.
	node, call, err := envelopes.CallMessage(ctx, cfg.NodeName+".math.add", []int{2, 3}, replyQueue)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Publish(node, call); err != nil {
		t.Fatalf("Publish call: %v", err)
	}
	select {
	case reply := <-replies:
		reply.Ack()
		if got := reply.Metadata.Get(codec.MetaCorrelationID); got != call.UUID {
			t.Errorf("reply correlation_id %q, want the call's %q", got, call.UUID)
		}
		if code := reply.Metadata.Get(codec.HeaderErrorCode); code != "" {
			t.Fatalf("error reply %s: %s", code, reply.Payload)
		}
		resp, err := codec.DecodeResponse(reply.Payload, codec.Options{})
		if err != nil || resp.Message != "5" || resp.ID != call.UUID {
			t.Errorf("reply %+v (%v), want id %s and 5", resp, err, call.UUID)
		}
	case <-ctx.Done():
		t.Fatal("no reply to the call")
	}

	// Sends, several in one Publish: each reaches the message service with
	// its UUID as Request.ID.
	var msgs []*message.Message
	want := map[string]int{}
	for i := range 5 {
		node, m, err := envelopes.SendMessage(ctx, cfg.NodeName+".math.add", []int{i, i})
		if err != nil {
			t.Fatal(err)
		}
		if node != cfg.NodeName {
			t.Fatalf("topic %q", node)
		}
		msgs = append(msgs, m)
		want[m.UUID] = i
	}
	if err := w.Publish(cfg.NodeName, msgs...); err != nil {
		t.Fatalf("Publish sends: %v", err)
	}
	// README: through watermill-amqp returns are lost, so a send to a node no
	// queue serves is confirmed and dropped (a Sender answers ErrNoRoute).
	node, nobody, err := envelopes.SendMessage(ctx, cfg.NodeName+"-nobody.math.add", []int{0, 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Publish(node, nobody); err != nil {
		t.Errorf("a send to a node nobody serves: %v; the README says watermill-amqp confirms and drops it", err)
	}
	testkit.Eventually(t, 10*time.Second, "5 sends at the agent", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sent) == 5
	})
	mu.Lock()
	defer mu.Unlock()
	for id, i := range want {
		if p := sent[id]; len(p) != 2 || p[0] != i {
			t.Errorf("send %s arrived with params %v, want [%d %d]", id, p, i, i)
		}
	}
}
