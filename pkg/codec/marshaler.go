package codec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Metadata keys under which Marshaler carries AMQP properties. Keys with the
// prefix "amqp." are never sent as headers.
const (
	MetaReplyTo       = "amqp.reply_to"
	MetaCorrelationID = "amqp.correlation_id"
	MetaExpiration    = "amqp.expiration"    // milliseconds, decimal text, as AMQP has it
	MetaMessageID     = "amqp.message_id"    // default on publish: the Watermill message UUID
	MetaTimestamp     = "amqp.timestamp"     // Unix seconds, decimal text
	MetaDeliveryMode  = "amqp.delivery_mode" // "1" transient, "2" persistent; absent: transient
	MetaRedelivered   = "amqp.redelivered"   // "true" or "false"; deliveries only
	MetaRoutingKey    = "amqp.routing_key"   // deliveries only
	MetaExchange      = "amqp.exchange"      // deliveries only
	MetaContentType   = "amqp.content_type"
)

const metaPrefix = "amqp."

// Marshaler maps Watermill messages to AMQP publishings and deliveries back,
// keeping the AMQP properties py-servicebus relies on (reply_to,
// correlation_id, ...) as metadata under the Meta* keys. Unlike
// watermill-amqp's DefaultMarshaler it accepts headers of every AMQP type
// (x-death, x-delivery-count, ...), and adds no header of its own, so Python
// peers see the messages they expect. It implements watermill-amqp's
// Marshaler interface.
type Marshaler struct{}

// Marshal builds the publishing of msg: the payload as body, the Meta* keys as
// properties, every other metadata key as a string header.
func (Marshaler) Marshal(msg *message.Message) (amqp.Publishing, error) {
	p := amqp.Publishing{Body: msg.Payload, MessageId: msg.UUID}
	for k, v := range msg.Metadata {
		if !strings.HasPrefix(k, metaPrefix) {
			if p.Headers == nil {
				p.Headers = make(amqp.Table, len(msg.Metadata))
			}
			p.Headers[k] = v
			continue
		}
		switch k {
		case MetaReplyTo:
			p.ReplyTo = v
		case MetaCorrelationID:
			p.CorrelationId = v
		case MetaExpiration:
			p.Expiration = v
		case MetaMessageID:
			p.MessageId = v
		case MetaContentType:
			p.ContentType = v
		case MetaTimestamp:
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return p, fmt.Errorf("codec: metadata %s=%q is not Unix seconds", k, v)
			}
			p.Timestamp = time.Unix(sec, 0)
		case MetaDeliveryMode:
			switch v {
			case "1":
				p.DeliveryMode = amqp.Transient
			case "2":
				p.DeliveryMode = amqp.Persistent
			default:
				return p, fmt.Errorf("codec: metadata %s=%q is not 1 or 2", k, v)
			}
		}
	}
	return p, nil
}

// Unmarshal builds the message of a delivery: the message id (or "") as UUID,
// the body as payload, the properties under the Meta* keys, every header under
// its own name as text (but headers named "amqp.*", which would pose as
// properties). It never fails.
func (Marshaler) Unmarshal(d amqp.Delivery) (*message.Message, error) {
	msg := message.NewMessage(d.MessageId, d.Body)
	md := make(message.Metadata, len(d.Headers)+propertyCount(&d))
	for k, v := range d.Headers {
		if strings.HasPrefix(k, metaPrefix) {
			continue // a header must not pose as a property (say, a forged reply_to)
		}
		md[k] = HeaderText(v)
	}
	set := func(k, v string) {
		if v != "" {
			md[k] = v
		}
	}
	set(MetaReplyTo, d.ReplyTo)
	set(MetaCorrelationID, d.CorrelationId)
	set(MetaExpiration, d.Expiration)
	set(MetaMessageID, d.MessageId)
	set(MetaContentType, d.ContentType)
	set(MetaRoutingKey, d.RoutingKey)
	set(MetaExchange, d.Exchange)
	if !d.Timestamp.IsZero() {
		md[MetaTimestamp] = strconv.FormatInt(d.Timestamp.Unix(), 10)
	}
	if d.DeliveryMode != 0 {
		md[MetaDeliveryMode] = strconv.Itoa(int(d.DeliveryMode))
	}
	md[MetaRedelivered] = strconv.FormatBool(d.Redelivered)
	msg.Metadata = md
	return msg, nil
}

// propertyCount is the number of Meta* keys Unmarshal sets for d. A map
// made to hold them all at once is never grown: growing one from its first
// eight entries to a call's ten costs a heap object more.
func propertyCount(d *amqp.Delivery) int {
	n := 1 // MetaRedelivered
	for _, v := range [...]string{d.ReplyTo, d.CorrelationId, d.Expiration, d.MessageId, d.ContentType, d.RoutingKey, d.Exchange} {
		if v != "" {
			n++
		}
	}
	if !d.Timestamp.IsZero() {
		n++
	}
	if d.DeliveryMode != 0 {
		n++
	}
	return n
}

// HeaderText renders an AMQP header value of any type as text: strings and
// byte strings as they are, numbers in decimal, booleans as true/false, times
// as Unix seconds, tables and arrays as JSON.
func HeaderText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int8:
		return strconv.FormatInt(int64(v), 10)
	case int16:
		return strconv.FormatInt(int64(v), 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint8:
		return strconv.FormatUint(uint64(v), 10)
	case uint16:
		return strconv.FormatUint(uint64(v), 10)
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		return strconv.FormatInt(v.Unix(), 10)
	case amqp.Decimal:
		return decimalText(v)
	}
	if b, err := json.Marshal(jsonable(v)); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

func decimalText(d amqp.Decimal) string {
	s := strconv.FormatInt(int64(d.Value), 10)
	if d.Scale == 0 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if n := int(d.Scale); len(s) <= n {
		s = strings.Repeat("0", n-len(s)+1) + s
	}
	s = s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
	if neg {
		s = "-" + s
	}
	return s
}

// jsonable turns tables and arrays into values encoding/json renders as
// HeaderText does their scalars (times as Unix seconds, byte strings as text).
func jsonable(v any) any {
	switch v := v.(type) {
	case amqp.Table:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = jsonable(e)
		}
		return m
	case map[string]any:
		return jsonable(amqp.Table(v))
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = jsonable(e)
		}
		return a
	case []byte:
		return string(v)
	case time.Time:
		return v.Unix()
	case amqp.Decimal:
		return json.Number(decimalText(v))
	case float32, float64:
		return v
	}
	return v
}
