package servicebus_test

import (
	"context"
	"log"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

// Calls and sends to agents over watermill-amqp publishers, one per broker,
// behind a failover Wrapper.
func ExampleEnvelopes() {
	cfg, err := servicebus.LoadConfig("") // token_mode, secret_token, call_timeout, exchange_name
	if err != nil {
		log.Fatal(err)
	}
	logger := watermill.NopLogger{} // watermill-amqp's channel pool needs a logger: nil panics
	var publishers []message.Publisher
	for _, url := range []string{"amqp://guest:guest@rabbit-a:5672/", "amqp://guest:guest@rabbit-b:5672/"} {
		pub, err := wamqp.NewPublisher(wamqp.Config{
			Connection: wamqp.ConnectionConfig{AmqpURI: url},
			Marshaler:  codec.Marshaler{}, // AMQP properties as metadata, headers of any type
			// The exchange as py-servicebus declares it (compat topology):
			// direct, not durable. Declaring it otherwise fails with
			// PRECONDITION_FAILED where agents declared it first.
			Exchange: wamqp.ExchangeConfig{
				GenerateName: wamqp.GenerateExchangeNameConstant(cfg.ExchangeName),
				Type:         "direct",
			},
			Publish: wamqp.PublishConfig{
				GenerateRoutingKey: func(node string) string { return node }, // topic = node = routing key
				ConfirmDelivery:    true,
				ChannelPoolSize:    16, // 0 opens a channel for every publish
			},
			TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
		}, logger)
		if err != nil {
			log.Fatal(err)
		}
		publishers = append(publishers, pub)
	}
	publisher, err := failover.NewWrapper(failover.WrapperConfig{
		Publishers:      publishers,
		Names:           []string{"rabbit-a", "rabbit-b"},
		ClosePublishers: true, // the Wrapper owns them: its Close closes them
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer publisher.Close()

	envelopes, err := servicebus.NewEnvelopes(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A message to a message service.
	node, msg, err := envelopes.SendMessage(ctx, "NODE-01.math.add", []int{3, 4})
	if err != nil {
		log.Fatal(err)
	}
	if err := publisher.Publish(node, msg); err != nil {
		log.Fatal(err)
	}

	// A call: the agent publishes the reply to the queue "my-replies" (consume
	// it with a subscriber of your own, codec.Marshaler as its marshaler),
	// with the correlation id msg.UUID; codec.DecodeResponse reads it.
	node, msg, err = envelopes.CallMessage(ctx, "NODE-01.math.add", []int{1, 2}, "my-replies")
	if err != nil {
		log.Fatal(err)
	}
	if err := publisher.Publish(node, msg); err != nil {
		log.Fatal(err)
	}
}
