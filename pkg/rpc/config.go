package rpc

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// ReplyMode selects where replies come back. Its values are those of the
// config key reply_mode.
type ReplyMode string

const (
	// ReplyQueue: one exclusive, server-named reply queue per broker
	// connection, declared at connect and again after every reconnect.
	ReplyQueue ReplyMode = "queue"
	// ReplyDirect: RabbitMQ direct reply-to (amq.rabbitmq.reply-to),
	// consumed no-ack on the publishing channel. No queue at all, but a reply
	// is lost if that channel dies (the call then fails with
	// ErrConnectionLost, as in queue mode).
	ReplyDirect ReplyMode = "direct"
)

// DefaultCallTimeout is the deadline of a call whose context has none
// (py-servicebus call_timeout).
const DefaultCallTimeout = 30 * time.Second

// Config configures a Sender.
type Config struct {
	// Endpoints are the brokers in order of preference.
	Endpoints []broker.Endpoint
	Topology  topology.Topology
	// CallTimeout is the deadline of calls, sends and pings whose context
	// has none. 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// Signer sets each call's token (and headers). Required: use
	// token.NoTokens when the deployment has tokens off.
	Signer token.Signer
	// ReplyMode is ReplyQueue ("" too) or ReplyDirect.
	ReplyMode ReplyMode
	// ConfirmTimeout bounds the wait for a broker's publisher confirm; then
	// the connection counts as broken. 0 means publish.DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
	// PreferPrimary sends every publish to the first healthy broker in
	// config order; false stays on the broker that last worked until it
	// fails.
	PreferPrimary bool
	// Backoff, ProbeInterval: see broker.PathConfig.
	Backoff       broker.Backoff
	ProbeInterval time.Duration
	// Codec limits the decoding of replies.
	Codec codec.Options
	// TracerProvider starts the spans of calls and sends; nil means
	// OpenTelemetry's global provider (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// Propagator writes the trace context into each request's headers and
	// reads it from replies; nil means the global propagator
	// (otel.GetTextMapPropagator), which propagates nothing until one is set.
	Propagator propagation.TextMapPropagator
	// Observer learns every call, send, ping, publish attempt and health
	// probe (metrics: pkg/metrics); nil observes nothing.
	Observer Observer
}

func (c *Config) setDefaults() {
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.ReplyMode == "" {
		c.ReplyMode = ReplyQueue
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = publish.DefaultConfirmTimeout
	}
}

// Validate reports every problem of the config at once, joined with
// errors.Join, each naming its field; NewSender prefixes them once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("Endpoints: at least one broker is required"))
	}
	for i, ep := range c.Endpoints {
		if ep.URL == "" {
			errs = append(errs, fmt.Errorf("Endpoints[%d].URL: empty", i))
		} else if _, err := amqp.ParseURI(ep.URL); err != nil {
			errs = append(errs, fmt.Errorf("Endpoints[%d] (%s): %w", i, ep.String(), err))
		}
	}
	if err := c.Topology.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Topology: %w", err))
	}
	if c.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("CallTimeout: %s is negative", c.CallTimeout))
	}
	if c.ConfirmTimeout < 0 {
		errs = append(errs, fmt.Errorf("ConfirmTimeout: %s is negative", c.ConfirmTimeout))
	}
	if c.Signer == nil {
		errs = append(errs, errors.New("Signer: required (token.NoTokens when tokens are off)"))
	}
	switch c.ReplyMode {
	case ReplyQueue, ReplyDirect, "":
	default:
		errs = append(errs, fmt.Errorf("ReplyMode: unknown %q (want %q or %q)", c.ReplyMode, ReplyQueue, ReplyDirect))
	}
	return errors.Join(errs...)
}
