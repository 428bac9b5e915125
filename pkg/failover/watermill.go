package failover

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

var _ message.Publisher = (*Publisher)(nil)

// Publish implements Watermill's message.Publisher: each message is mapped
// to AMQP by codec.Marshaler (metadata "amqp.*" keys become properties) and
// published to the configured Exchange with routing key topic, confirmed,
// with failover, one after another. The message's context bounds each
// publish (PublishTimeout when it has no deadline). Messages after the first
// failure are not published.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.exchange == "" && topic == "" {
		return errors.New("failover: Publish: empty topic for the default exchange")
	}
	var m codec.Marshaler
	for _, msg := range msgs {
		pub, err := m.Marshal(msg)
		if err != nil {
			return fmt.Errorf("failover: marshal message %s: %w", msg.UUID, err)
		}
		if _, err := p.PublishAMQP(msg.Context(), p.exchange, topic, pub); err != nil {
			return fmt.Errorf("failover: publish message %s to %q: %w", msg.UUID, topic, err)
		}
	}
	return nil
}
