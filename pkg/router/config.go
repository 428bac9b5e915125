package router

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// Defaults of Config.
const (
	DefaultConcurrency  = 64
	DefaultDrainTimeout = 30 * time.Second
	DefaultReplyTimeout = 5 * time.Second

	// Of Config.MessageRetry (RetryConfig).
	DefaultMessageRetries       = 3
	DefaultRetryInitialInterval = 100 * time.Millisecond
	DefaultRetryMaxInterval     = 2 * time.Second
)

// Config configures an Agent.
type Config struct {
	// Endpoints are the brokers; the agent consumes the node queue on every
	// one at once, each over a path of its own.
	Endpoints []broker.Endpoint
	Topology  topology.Topology
	// NodeName names the node queue (py-servicebus node_name).
	NodeName string
	// Concurrency bounds the deliveries in flight across all brokers; it is
	// also each broker's prefetch. 0 means DefaultConcurrency.
	Concurrency int
	// Tokens checks every call's credentials. Required: token.NoTokens turns
	// the check off, which a config must say in so many words.
	Tokens token.Validator
	// Codec sets the XML decoder's limits (body size) and strictness.
	Codec codec.Options
	// DrainTimeout bounds how long Close waits for in-flight work; 0 means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// ReplyTimeout bounds one reply publish including the broker's confirm;
	// 0 means DefaultReplyTimeout.
	ReplyTimeout time.Duration
	// Backoff paces reconnects of each path; zero means broker.DefaultBackoff.
	Backoff broker.Backoff
	// ProbeInterval is the health probe period of each path (0: default,
	// negative: off).
	ProbeInterval time.Duration
	// Caller is what Request.Sender returns; nil if services call nothing.
	Caller Caller
	// MessageRetry retries failing message services; RPC services are never
	// retried (the caller decides).
	MessageRetry RetryConfig
	// TracerProvider starts the span of each delivery; nil means
	// OpenTelemetry's global provider (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context from each delivery's headers and
	// writes it into replies; nil means the global propagator
	// (otel.GetTextMapPropagator), which propagates nothing until one is set.
	Propagator propagation.TextMapPropagator
	// OnProbe, if set, learns every health probe of each broker: its round
	// trip and error (metrics). It must not block.
	OnProbe func(broker string, took time.Duration, err error)
}

func (c *Config) setDefaults() {
	orDefault(&c.Concurrency, DefaultConcurrency)
	orDefault(&c.DrainTimeout, DefaultDrainTimeout)
	orDefault(&c.ReplyTimeout, DefaultReplyTimeout)
	orDefault(&c.Backoff, broker.DefaultBackoff())
	c.MessageRetry.setDefaults()
}

// orDefault sets *v to def when it is the zero value.
func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Validate reports every problem of the config at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("Endpoints: at least one broker is needed"))
	}
	for i, ep := range c.Endpoints {
		if ep.URL == "" {
			errs = append(errs, fmt.Errorf("Endpoints[%d].URL: empty", i))
		}
	}
	if err := c.Topology.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Topology: %w", err))
	}
	switch {
	case c.NodeName == "":
		errs = append(errs, errors.New("NodeName: empty"))
	case len(c.NodeName) > 255:
		errs = append(errs, fmt.Errorf("NodeName: %d bytes, AMQP allows 255", len(c.NodeName)))
	case strings.HasPrefix(c.NodeName, "amq."):
		errs = append(errs, fmt.Errorf("NodeName: %q: the amq. prefix is reserved by the broker", c.NodeName))
	}
	if c.Concurrency < 1 || c.Concurrency > 65535 {
		errs = append(errs, fmt.Errorf("Concurrency: %d, want 1..65535", c.Concurrency))
	}
	if c.Tokens == nil {
		errs = append(errs, errors.New("Tokens: nil; set a validator (token.NoTokens turns the check off)"))
	}
	if c.Codec.MaxBodySize < 0 {
		errs = append(errs, fmt.Errorf("Codec.MaxBodySize: %d is negative", c.Codec.MaxBodySize))
	}
	if c.DrainTimeout < 0 {
		errs = append(errs, fmt.Errorf("DrainTimeout: %s is negative", c.DrainTimeout))
	}
	if c.ReplyTimeout < 0 {
		errs = append(errs, fmt.Errorf("ReplyTimeout: %s is negative", c.ReplyTimeout))
	}
	if c.MessageRetry.InitialInterval < 0 || c.MessageRetry.MaxInterval < 0 {
		errs = append(errs, errors.New("MessageRetry: intervals must not be negative"))
	}
	return errors.Join(errs...)
}
