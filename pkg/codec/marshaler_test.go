package codec

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
)

// watermillMarshaler is watermill-amqp's Marshaler interface (pkg/amqp),
// restated so this package's tests need not build watermill-amqp.
type watermillMarshaler interface {
	Marshal(msg *message.Message) (amqp.Publishing, error)
	Unmarshal(amqpMsg amqp.Delivery) (*message.Message, error)
}

var _ watermillMarshaler = Marshaler{}

func TestMarshalMapsMetadataToProperties(t *testing.T) {
	msg := message.NewMessage("uuid-1", []byte("body"))
	msg.Metadata.Set(MetaReplyTo, "reply-q")
	msg.Metadata.Set(MetaCorrelationID, "corr")
	msg.Metadata.Set(MetaExpiration, "1500")
	msg.Metadata.Set(MetaContentType, "text/xml")
	msg.Metadata.Set(MetaTimestamp, "1700000000")
	msg.Metadata.Set(MetaDeliveryMode, "2")
	msg.Metadata.Set(MetaRoutingKey, "ignored")
	msg.Metadata.Set(HeaderDeadline, "1700000001500")
	p, err := Marshaler{}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Body) != "body" || p.ReplyTo != "reply-q" || p.CorrelationId != "corr" || p.Expiration != "1500" ||
		p.ContentType != "text/xml" || p.MessageId != "uuid-1" || p.DeliveryMode != amqp.Persistent ||
		!p.Timestamp.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("publishing %+v", p)
	}
	if len(p.Headers) != 1 || p.Headers[HeaderDeadline] != "1700000001500" {
		t.Errorf("headers %v: want only the x-sb-deadline one", p.Headers)
	}
	msg.Metadata.Set(MetaMessageID, "explicit")
	if p, _ := (Marshaler{}).Marshal(msg); p.MessageId != "explicit" {
		t.Errorf("message id %q", p.MessageId)
	}
}

func TestMarshalWithoutMetadataAddsNoHeaders(t *testing.T) {
	p, err := Marshaler{}.Marshal(message.NewMessage("", []byte("PING")))
	if err != nil || p.Headers != nil || p.DeliveryMode != 0 || p.ReplyTo != "" {
		t.Errorf("%+v %v", p, err)
	}
}

func TestMarshalRejectsBadPropertyText(t *testing.T) {
	for k, v := range map[string]string{MetaDeliveryMode: "persistent", MetaTimestamp: "now"} {
		msg := message.NewMessage("", nil)
		msg.Metadata.Set(k, v)
		if _, err := (Marshaler{}).Marshal(msg); err == nil {
			t.Errorf("%s=%q accepted", k, v)
		}
	}
}

func TestUnmarshalToleratesEveryHeaderType(t *testing.T) {
	death := []any{amqp.Table{
		"count":        int64(2),
		"reason":       "rejected",
		"queue":        "node",
		"time":         time.Unix(1700000000, 0),
		"routing-keys": []any{"node"},
	}}
	d := amqp.Delivery{
		Body:          []byte("<xml/>"),
		ReplyTo:       "reply-q",
		CorrelationId: "corr",
		Expiration:    "2000",
		MessageId:     "mid",
		ContentType:   "text/xml",
		Timestamp:     time.Unix(1700000000, 0),
		DeliveryMode:  amqp.Persistent,
		Redelivered:   true,
		RoutingKey:    "node",
		Exchange:      "py-servicebus",
		Headers: amqp.Table{
			"x-death":          death,
			"x-delivery-count": int64(3),
			"s":                "text",
			"b":                []byte("bytes"),
			"bool":             true,
			"i8":               int8(-8),
			"i16":              int16(16),
			"i32":              int32(-32),
			"u8":               uint8(8),
			"u16":              uint16(16),
			"u32":              uint32(32),
			"u64":              uint64(64),
			"int":              7,
			"f32":              float32(1.5),
			"f64":              2.25,
			"nan":              math.NaN(),
			"dec":              amqp.Decimal{Scale: 2, Value: -12345},
			"dec0":             amqp.Decimal{Scale: 3, Value: 5},
			"time":             time.Unix(1700000001, 0),
			"nil":              nil,
			"table":            amqp.Table{"k": []byte("v"), "n": math.Inf(1)},
			"array":            []any{1, "a", nil},
		},
	}
	msg, err := Marshaler{}.Unmarshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		MetaReplyTo: "reply-q", MetaCorrelationID: "corr", MetaExpiration: "2000", MetaMessageID: "mid",
		MetaContentType: "text/xml", MetaTimestamp: "1700000000", MetaDeliveryMode: "2", MetaRedelivered: "true",
		MetaRoutingKey: "node", MetaExchange: "py-servicebus",
		"x-delivery-count": "3", "s": "text", "b": "bytes", "bool": "true", "i8": "-8", "i16": "16", "i32": "-32",
		"u8": "8", "u16": "16", "u32": "32", "u64": "64", "int": "7", "f32": "1.5", "f64": "2.25", "nan": "NaN",
		"dec": "-123.45", "dec0": "0.005", "time": "1700000001", "nil": "", "array": `[1,"a",null]`,
	}
	for k, v := range want {
		if got := msg.Metadata.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	var deaths []map[string]any
	if err := json.Unmarshal([]byte(msg.Metadata.Get("x-death")), &deaths); err != nil || len(deaths) != 1 ||
		deaths[0]["count"] != float64(2) || deaths[0]["time"] != float64(1700000000) || deaths[0]["reason"] != "rejected" {
		t.Errorf("x-death %q: %v", msg.Metadata.Get("x-death"), err)
	}
	if msg.Metadata.Get("table") == "" {
		t.Error("a table JSON cannot hold (Inf) must still give text")
	}
	if msg.UUID != "mid" || string(msg.Payload) != "<xml/>" {
		t.Errorf("message %q %q", msg.UUID, msg.Payload)
	}
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	msg := message.NewMessage("u", []byte("x"))
	msg.Metadata.Set(MetaReplyTo, "r")
	msg.Metadata.Set(MetaCorrelationID, "c")
	msg.Metadata.Set("custom", "v")
	p, err := Marshaler{}.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Marshaler{}.Unmarshal(amqp.Delivery{Body: p.Body, Headers: p.Headers, ReplyTo: p.ReplyTo,
		CorrelationId: p.CorrelationId, MessageId: p.MessageId})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{MetaReplyTo, MetaCorrelationID, "custom"} {
		if back.Metadata.Get(k) != msg.Metadata.Get(k) {
			t.Errorf("%s: %q, want %q", k, back.Metadata.Get(k), msg.Metadata.Get(k))
		}
	}
	if back.Metadata.Get(MetaRedelivered) != "false" || back.UUID != "u" {
		t.Errorf("metadata %v uuid %q", back.Metadata, back.UUID)
	}
}

func TestUnmarshalIgnoresHeadersPosingAsProperties(t *testing.T) {
	d := amqp.Delivery{Body: []byte("x"), Headers: amqp.Table{
		MetaReplyTo: "attacker-queue", MetaCorrelationID: "forged", MetaRedelivered: "maybe", "amqp.other": "x",
	}}
	msg, err := Marshaler{}.Unmarshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{MetaReplyTo, MetaCorrelationID, "amqp.other"} {
		if v, ok := msg.Metadata[k]; ok {
			t.Errorf("%s = %q taken from a header", k, v)
		}
	}
	if msg.Metadata.Get(MetaRedelivered) != "false" {
		t.Errorf("redelivered %q", msg.Metadata.Get(MetaRedelivered))
	}
}

// Unmarshal sizes its metadata map by propertyCount: a property added to
// Unmarshal but not counted would grow the map on every delivery again.
func TestPropertyCountIsTheNumberOfPropertiesUnmarshalSets(t *testing.T) {
	full := amqp.Delivery{
		Headers: amqp.Table{"x-sb-deadline": "1"}, ReplyTo: "r", CorrelationId: "c", Expiration: "1", MessageId: "m",
		ContentType: "text/xml", RoutingKey: "k", Exchange: "e", Timestamp: time.Unix(1, 0), DeliveryMode: amqp.Transient,
	}
	for name, d := range map[string]amqp.Delivery{"every property": full, "none": {}, "a header alone": {Headers: full.Headers}} {
		msg, err := Marshaler{}.Unmarshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(msg.Metadata), len(d.Headers)+propertyCount(&d); got != want {
			t.Errorf("%s: %d metadata keys, propertyCount and the headers make %d", name, got, want)
		}
	}
}
