package servicebus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// The types a user of the front door meets, under the names the docs use
// (agent, sender, service, reply).
type (
	// Agent consumes a node's queue on every broker and runs its services.
	Agent = router.Agent
	// Request is one call or message as a service sees it.
	Request = router.Request
	// RPCService answers a call; MessageService handles a message.
	RPCService     = router.RPCService
	MessageService = router.MessageService
	// Sender calls, sends and pings NODE.CATEGORY.NAME targets.
	Sender = rpc.Sender
	// Reply is the answer to a Call.
	Reply = rpc.Reply
	// RemoteError is a failure the remote service answered with.
	RemoteError = rpc.RemoteError
)

// Errors of the sender, for errors.Is.
var (
	ErrTimeout     = rpc.ErrTimeout
	ErrNoRoute     = rpc.ErrNoRoute
	ErrUnavailable = rpc.ErrUnavailable
	ErrClosed      = rpc.ErrClosed
	// ErrRefused: every broker refused the connection or its set-up in a
	// way that retrying does not heal (wrong password, unknown vhost, a
	// TLS certificate that fails verification, a topology that does not
	// match the broker's). It comes at once, not at the deadline, and the
	// error names each broker and its cause (a *broker.RefusedError).
	ErrRefused = broker.ErrRefused
)

// NewAgent builds the agent of cfg's node. It validates cfg, connects nothing
// until Start or Run, and gives its services a Sender (Request.Sender) that
// connects on first use and is closed with the agent. A nil logger logs
// nothing.
func NewAgent(cfg Config, logger watermill.LoggerAdapter) (*Agent, error) {
	rcfg, err := cfg.agentConfig(logger)
	if err != nil {
		return nil, err
	}
	caller := &lazySender{cfg: cfg, logger: logger}
	rcfg.Caller = caller
	agent, err := router.NewAgent(rcfg, logger)
	if err != nil {
		return nil, err
	}
	agent.OnExit(func() { _ = caller.Close() })
	return agent, nil
}

// NewSender builds a sender over every broker of cfg. It validates cfg and
// starts connecting in the background; calls wait for a broker within their
// deadline. A nil logger logs nothing.
func NewSender(cfg Config, logger watermill.LoggerAdapter) (*Sender, error) {
	scfg, err := cfg.senderConfig(logger)
	if err != nil {
		return nil, err
	}
	return rpc.NewSender(scfg, logger)
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
		Endpoints:     endpoints,
		Topology:      c.Topology(),
		NodeName:      c.NodeName,
		Concurrency:   c.Concurrency,
		Tokens:        tokens,
		Codec:         c.CodecOptions(),
		DrainTimeout:  c.DrainTimeout,
		Backoff:       c.Backoff(),
		ProbeInterval: c.ProbeInterval,
	}, nil
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
	mode := rpc.ReplyQueue
	switch c.ReplyMode {
	case ReplyQueue, "":
	case ReplyDirect:
		mode = rpc.ReplyDirect
	default:
		return rpc.Config{}, fmt.Errorf("reply_mode: unknown mode %q", c.ReplyMode)
	}
	return rpc.Config{
		Endpoints:   endpoints,
		Topology:    c.Topology(),
		CallTimeout: c.CallTimeout,
		Signer:      signer,
		ReplyMode:   mode,
		// DESIGN: the sender comes back to the first broker once it is healthy.
		PreferPrimary: true,
		Backoff:       c.Backoff(),
		ProbeInterval: c.ProbeInterval,
		Codec:         c.CodecOptions(),
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
