package tracing

import (
	amqp "github.com/rabbitmq/amqp091-go"
)

// Bounds on trace headers read from a delivery. A header over its bound
// reads as absent: the call goes on untraced (a root span), and nothing of
// it is echoed into replies or nested calls.
const (
	// MaxTraceContext bounds traceparent and tracestate. A version 00
	// traceparent is 55 bytes; W3C asks to pass on at least 512 bytes of
	// tracestate.
	MaxTraceContext = 512
	// MaxOtherHeader bounds any other header a propagator reads (baggage:
	// W3C's limit is 8192 bytes).
	MaxOtherHeader = 8192
)

// Headers is how many headers the W3C propagator writes (traceparent,
// tracestate): room to make in a header table before Inject.
const Headers = 2

func bound(key string) int {
	switch key {
	case "traceparent", "tracestate":
		return MaxTraceContext
	}
	return MaxOtherHeader
}

// TableCarrier is an OpenTelemetry TextMapCarrier over AMQP headers: Set
// writes strings, Get reads strings and byte slices (what other clients
// send as AMQP long strings) within their bound.
type TableCarrier amqp.Table

// Get returns the header key as text, "" when it is absent, not text or
// over its bound.
func (c TableCarrier) Get(key string) string {
	var s string
	switch v := c[key].(type) {
	case string:
		s = v
	case []byte:
		if len(v) > bound(key) {
			return ""
		}
		s = string(v)
	}
	if len(s) > bound(key) {
		return ""
	}
	return s
}

// Set sets header key to value.
func (c TableCarrier) Set(key, value string) { c[key] = value }

// Keys lists the header names.
func (c TableCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// TextCarrier is a TextMapCarrier over headers as text (a Watermill
// message's metadata), with Get bounded as TableCarrier's.
type TextCarrier map[string]string

// Get returns the value of key, "" when absent or over its bound.
func (c TextCarrier) Get(key string) string {
	if s := c[key]; len(s) <= bound(key) {
		return s
	}
	return ""
}

// Set sets key to value.
func (c TextCarrier) Set(key, value string) { c[key] = value }

// Keys lists the keys.
func (c TextCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// lazyTable is a write-only carrier that makes the header table on the
// first Set: a reply has no headers unless a propagator writes some.
type lazyTable struct{ t *amqp.Table }

func (c lazyTable) Get(key string) string { return TableCarrier(*c.t).Get(key) }

func (c lazyTable) Set(key, value string) {
	if *c.t == nil {
		*c.t = make(amqp.Table, Headers)
	}
	(*c.t)[key] = value
}

func (c lazyTable) Keys() []string { return TableCarrier(*c.t).Keys() }
