package servicebus

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// Sender calls, sends and pings NODE.CATEGORY.NAME targets over one
// connection per broker, shared by all goroutines.
type Sender = rpc.Sender

// Reply is the answer to a Call: the raw text and, where it is JSON, Decode.
type Reply = rpc.Reply

// CallOption changes one call (Sender.CallWith).
type CallOption = rpc.CallOption

// WithResend lets a call be sent again, up to n more times, when the
// connection its reply would come back on dies while it waits. Only for
// idempotent services: the first attempt may have run.
func WithResend(n int) CallOption { return rpc.WithResend(n) }

// PingResult is what Sender.PingAll found out, one PathPing per broker.
type PingResult = rpc.PingResult

// PathPing is the outcome of a ping over one broker.
type PathPing = rpc.PathPing

// BrokerStatus is the state of one broker's connection (Sender.Status).
type BrokerStatus = rpc.BrokerStatus

// NewSender builds a sender over every broker of cfg. It validates cfg and
// starts connecting in the background; calls wait for a broker within their
// deadline. A nil logger logs nothing.
func NewSender(cfg Config, logger watermill.LoggerAdapter) (*Sender, error) {
	scfg, err := cfg.senderConfig(logger)
	if err != nil {
		return nil, fmt.Errorf("servicebus: invalid config: %w", err)
	}
	// A sender serves no endpoints: metrics_addr alone gives it no metrics.
	cfg.MetricsAddr = ""
	m, err := cfg.metricsFor()
	if err != nil {
		return nil, fmt.Errorf("servicebus: %w", err)
	}
	if m != nil {
		scfg.Observer = m.SenderObserver()
	}
	s, err := rpc.NewSender(scfg, logger)
	if err != nil {
		return nil, err
	}
	if m != nil {
		m.AddSender(s)
	}
	return s, nil
}

func (c Config) senderConfig(logger watermill.LoggerAdapter) (rpc.Config, error) {
	if err := c.Validate(); err != nil {
		return rpc.Config{}, err
	}
	endpoints, err := c.Endpoints(logger)
	if err != nil {
		return rpc.Config{}, err
	}
	signer, err := c.TokenSigner()
	if err != nil {
		return rpc.Config{}, err
	}
	return rpc.Config{
		Endpoints:   endpoints,
		Topology:    c.Topology(),
		CallTimeout: c.CallTimeout,
		Signer:      signer,
		ReplyMode:   c.ReplyMode,
		// The sender comes back to the first broker once it is healthy
		// (docs/design.md, "Guarantees").
		PreferPrimary:  true,
		Backoff:        c.Backoff(),
		ProbeInterval:  c.ProbeInterval,
		Codec:          c.CodecOptions(),
		TracerProvider: c.TracerProvider,
		Propagator:     c.Propagator,
	}, nil
}
