package servicebus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/pkg/metrics"

	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// Agent consumes a node's queue on every broker and runs its services.
type Agent = router.Agent

// Request is one call or message as a service sees it: its id, target,
// params (Decode) and delivery metadata, and Sender to call other services.
type Request = router.Request

// RPCService answers a call: its result goes back to the caller as JSON, an
// error as an error reply.
type RPCService = router.RPCService

// MessageService handles a message; the message is acked once it returns
// nil.
type MessageService = router.MessageService

// RPC adapts a function of typed params to an RPCService: the params are
// decoded from JSON into P (a failure answers the caller with a bad-request
// error) and the result is sent back as JSON.
func RPC[P, R any](fn func(ctx context.Context, params P) (R, error)) RPCService {
	return router.RPC(fn)
}

// Message adapts a function of typed params to a MessageService.
func Message[P any](fn func(ctx context.Context, params P) error) MessageService {
	return router.Message(fn)
}

// NewAgent builds the agent of cfg's node. It validates cfg, connects nothing
// until Start or Run, and gives its services a Sender (Request.Sender) that
// connects on first use and is closed with the agent. A nil logger logs
// nothing.
func NewAgent(cfg Config, logger watermill.LoggerAdapter) (*Agent, error) {
	rcfg, err := cfg.agentConfig(logger)
	if err != nil {
		return nil, fmt.Errorf("servicebus: invalid config: %w", err)
	}
	m, err := cfg.metricsFor()
	if err != nil {
		return nil, fmt.Errorf("servicebus: %w", err)
	}
	if m != nil {
		rcfg.OnProbe = m.ProbeFunc(metrics.RoleAgent)
	}
	caller := &lazySender{cfg: cfg, logger: logger}
	rcfg.Caller = caller
	agent, err := router.NewAgent(rcfg, logger)
	if err != nil {
		return nil, err
	}
	agent.OnExit(func() { _ = caller.Close() })
	if m != nil {
		m.AddAgent(agent)
	}
	if cfg.MetricsAddr != "" {
		serveMetrics(agent, cfg.MetricsAddr, cfg.Registerer.(prometheus.Gatherer))
	}
	return agent, nil
}

func (c Config) agentConfig(logger watermill.LoggerAdapter) (router.Config, error) {
	if err := c.Validate(); err != nil {
		return router.Config{}, err
	}
	endpoints, err := c.Endpoints(logger)
	if err != nil {
		return router.Config{}, err
	}
	tokens, err := c.TokenValidator()
	if err != nil {
		return router.Config{}, err
	}
	return router.Config{
		Endpoints:      endpoints,
		Topology:       c.Topology(),
		NodeName:       c.NodeName,
		Concurrency:    c.Concurrency,
		Tokens:         tokens,
		Codec:          c.CodecOptions(),
		DrainTimeout:   c.DrainTimeout,
		Backoff:        c.Backoff(),
		ProbeInterval:  c.ProbeInterval,
		TracerProvider: c.TracerProvider,
		Propagator:     c.Propagator,
	}, nil
}

// lazySender is an agent's Caller: most agents call nothing, so the sender's
// connections are opened on the first call.
type lazySender struct {
	cfg    Config
	logger watermill.LoggerAdapter

	mu     sync.Mutex
	sender *rpc.Sender
	closed bool
}

func (l *lazySender) get() (*rpc.Sender, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, rpc.ErrClosed
	}
	if l.sender == nil {
		s, err := NewSender(l.cfg, l.logger)
		if err != nil {
			return nil, errors.Join(rpc.ErrUnavailable, err)
		}
		l.sender = s
	}
	return l.sender, nil
}

func (l *lazySender) Call(ctx context.Context, target string, params any) (*rpc.Reply, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Call(ctx, target, params)
}

func (l *lazySender) Send(ctx context.Context, target string, params any) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.Send(ctx, target, params)
}

func (l *lazySender) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.sender == nil {
		return nil
	}
	return l.sender.Close()
}
