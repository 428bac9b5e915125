package broker

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// MaxMessageSize is RabbitMQ's default max_message_size (128 MiB): larger
// bodies are refused before they are written.
const MaxMessageSize = 128 << 20

// CheckSize returns ErrTooLarge when msg cannot be published on conn: its
// content-header frame would exceed the frame size negotiated with the
// broker, or its body MaxMessageSize.
func CheckSize(conn *amqp.Connection, msg *amqp.Publishing) error {
	if len(msg.Body) > MaxMessageSize {
		return fmt.Errorf("%w: body of %d bytes, the broker takes at most %d", ErrTooLarge, len(msg.Body), MaxMessageSize)
	}
	frameMax := conn.Config.FrameSize
	if frameMax <= 0 {
		return nil // no limit negotiated
	}
	if n := HeaderFrameSize(msg); n > frameMax {
		return fmt.Errorf("%w: properties and headers take %d bytes, the broker's frame_max is %d", ErrTooLarge, n, frameMax)
	}
	return nil
}

// HeaderFrameSize is the size of the content-header frame that carries
// msg's properties and headers, frame header and end included.
func HeaderFrameSize(msg *amqp.Publishing) int {
	// frame type, channel, size; class, weight, body size, property flags;
	// frame end.
	n := 7 + 14 + 1
	for _, s := range []string{msg.ContentType, msg.ContentEncoding, msg.CorrelationId, msg.ReplyTo,
		msg.Expiration, msg.MessageId, msg.Type, msg.UserId, msg.AppId} {
		if s != "" {
			n += 1 + len(s)
		}
	}
	if msg.DeliveryMode != 0 {
		n++
	}
	if msg.Priority != 0 {
		n++
	}
	if !msg.Timestamp.IsZero() {
		n += 8
	}
	if len(msg.Headers) > 0 {
		n += tableSize(msg.Headers)
	}
	return n
}

func tableSize(t amqp.Table) int {
	n := 4
	for k, v := range t {
		n += 1 + len(k) + 1 + valueSize(v)
	}
	return n
}

// valueSize is the encoded size of a field value without its type byte.
func valueSize(v any) int {
	switch v := v.(type) {
	case nil, bool, int8, uint8:
		if v == nil {
			return 0
		}
		return 1
	case int16, uint16:
		return 2
	case int32, uint32, float32:
		return 4
	case int, int64, uint64, float64, time.Time:
		return 8
	case amqp.Decimal:
		return 5
	case string:
		return 4 + len(v)
	case []byte:
		return 4 + len(v)
	case amqp.Table:
		return tableSize(v)
	case []any:
		n := 4
		for _, e := range v {
			n += 1 + valueSize(e)
		}
		return n
	default:
		return 8 // a type amqp091-go refuses to encode anyway
	}
}
