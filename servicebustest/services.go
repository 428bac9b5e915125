package servicebustest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// replyQueue is the reply_to of the calls Services makes: a call needs one,
// and nothing is published to it.
const replyQueue = "servicebustest.replies"

// Services is a node's services without a broker: Call and Send run a
// service through the same built-in middleware as an agent (router.Builtin)
// and the service's own middleware, in the caller's goroutine. Safe for
// concurrent use.
type Services struct {
	envelopes *servicebus.Envelopes
	codec     codec.Options
	base      router.Builtin // Tokens; the rest is set at each Handle

	mu     sync.Mutex
	caller router.Caller
	retry  router.RetryConfig
	rpc    map[string]rpcService
	msg    map[string]messageService
}

type rpcService struct {
	svc router.RPCService
	mw  []message.HandlerMiddleware
}

type messageService struct {
	svc router.MessageService
	mw  []message.HandlerMiddleware
}

// NewServices returns an empty table of services whose calls are signed
// and checked as Config(opts...) says (token_mode, secret_token,
// max_body_size, call_timeout).
func NewServices(opts ...func(*servicebus.Config)) (*Services, error) {
	cfg := Config(opts...)
	envelopes, err := servicebus.NewEnvelopes(cfg)
	if err != nil {
		return nil, fmt.Errorf("servicebustest: %w", err)
	}
	tokens, err := cfg.TokenValidator()
	if err != nil {
		return nil, fmt.Errorf("servicebustest: %w", err)
	}
	return &Services{
		envelopes: envelopes,
		codec:     cfg.CodecOptions(),
		base:      router.Builtin{Tokens: tokens},
		rpc:       map[string]rpcService{},
		msg:       map[string]messageService{},
	}, nil
}

// Envelopes builds messages signed as Call signs them, for Handle: a call
// to tamper with (a stale x-sb-deadline, a changed param).
func (s *Services) Envelopes() *servicebus.Envelopes { return s.envelopes }

// SetCaller sets what Request.Sender returns to the services: a fake, or a
// Sender of a node StartNode runs.
func (s *Services) SetCaller(c router.Caller) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.caller = c
}

// SetRetry sets the retries of failing message services (an agent's
// default: router.DefaultMessageRetries, 100 ms doubling; a negative
// MaxRetries turns them off).
func (s *Services) SetRetry(r router.RetryConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retry = r
}

// AddRPCService adds an RPC service as an agent's AddRPCService does; m
// wraps it alone, after the built-in middleware.
func (s *Services) AddRPCService(category, name string, svc router.RPCService, m ...message.HandlerMiddleware) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rpc[category+"."+name] = rpcService{svc, m}
}

// AddMessageService adds a message service as an agent's AddMessageService
// does.
func (s *Services) AddMessageService(category, name string, svc router.MessageService, m ...message.HandlerMiddleware) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msg[category+"."+name] = messageService{svc, m}
}

// Call runs the RPC service "CATEGORY.NAME" with params as an agent runs a
// call of it from a Sender (with ctx's deadline, else call_timeout), and
// returns the reply as the Sender would: a *servicebus.Reply, or a
// *servicebus.RemoteError (unknown service, bad params, the service's
// error, a panic).
func (s *Services) Call(ctx context.Context, service string, params any) (*servicebus.Reply, error) {
	_, msg, err := s.envelopes.CallMessage(ctx, "servicebustest."+service, params, replyQueue)
	if err != nil {
		return nil, err
	}
	out, err := s.Handle(msg)
	if err != nil {
		return nil, fmt.Errorf("servicebustest: call %s not answered: %w", service, err)
	}
	return ReadReply(out)
}

// Send runs the message service "CATEGORY.NAME" with params as an agent
// runs a send of it, retries included, and returns what the agent acts on:
// nil (it acks the message) or the error that rejects it.
func (s *Services) Send(ctx context.Context, service string, params any) error {
	_, msg, err := s.envelopes.SendMessage(ctx, "servicebustest."+service, params)
	if err != nil {
		return err
	}
	_, err = s.Handle(msg)
	return err
}

// Handle runs any message as an agent runs a delivery: a call (with
// codec.MetaReplyTo) through the RPC middleware, anything else through the
// message middleware, to the service its envelope names. Use it for
// messages Call and Send do not make: a PING, a body that does not decode,
// a stale deadline, a forged token.
func (s *Services) Handle(msg *message.Message) ([]*message.Message, error) {
	var target string
	if ev, err := codec.DecodeEvent(msg.Payload, s.codec); err == nil {
		target = ev.Category + "." + ev.Service
	}
	s.mu.Lock()
	b := s.base
	b.Codec, b.Caller, b.Retry = s.codec, s.caller, s.retry
	rpc, hasRPC := s.rpc[target]
	msgSvc, hasMsg := s.msg[target]
	s.mu.Unlock()

	if msg.Metadata.Get(codec.MetaReplyTo) != "" {
		h := router.HandleRPC(unknown)
		if hasRPC {
			h = chain(router.HandleRPC(rpc.svc), rpc.mw)
		}
		return chain(h, b.RPC())(msg)
	}
	var h message.HandlerFunc
	switch {
	case hasMsg:
		h = chain(noPublish(router.HandleMessage(msgSvc.svc)), msgSvc.mw)
	case hasRPC:
		// An agent runs an RPC service for a message, in its message
		// catch-all handler (without the RPC's own middleware), and drops
		// the result.
		h = func(m *message.Message) ([]*message.Message, error) {
			_, err := router.HandleRPC(rpc.svc)(m)
			return nil, err
		}
	default:
		h = noPublish(router.HandleMessage(func(ctx context.Context, req *router.Request) error {
			_, err := unknown(ctx, req)
			return err
		}))
	}
	return chain(h, b.Message())(msg)
}

// unknown answers as an agent answers a service it does not have.
func unknown(_ context.Context, req *router.Request) (any, error) {
	return nil, router.NewError(codec.CodeUnknownService, codec.UnknownServiceText(req.Category, req.Service))
}

// chain wraps h in m, the first outermost, as Watermill does.
func chain(h message.HandlerFunc, m []message.HandlerMiddleware) message.HandlerFunc {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}

func noPublish(h message.NoPublishHandlerFunc) message.HandlerFunc {
	return func(m *message.Message) ([]*message.Message, error) { return nil, h(m) }
}

// ErrNoReply is what ReadReply returns for anything but one reply.
var ErrNoReply = errors.New("servicebustest: not one reply")

// ReadReply reads the reply messages of a call as a Sender reads the
// reply: an error reply (codec.HeaderErrorCode) is a *servicebus.RemoteError,
// any other the response envelope.
func ReadReply(out []*message.Message) (*servicebus.Reply, error) {
	if len(out) != 1 {
		return nil, fmt.Errorf("%w: %d messages", ErrNoReply, len(out))
	}
	m := out[0]
	if code := m.Metadata.Get(codec.HeaderErrorCode); code != "" {
		return nil, &servicebus.RemoteError{Code: codec.ErrorCode(code), Message: m.Metadata.Get(codec.HeaderErrorMessage)}
	}
	if string(m.Payload) == string(codec.PongBody) {
		return &servicebus.Reply{Raw: string(m.Payload)}, nil
	}
	resp, err := codec.DecodeResponse(m.Payload, codec.Options{})
	if err != nil {
		return nil, fmt.Errorf("servicebustest: undecodable reply: %w", err)
	}
	return &servicebus.Reply{ID: resp.ID, Raw: resp.Message}, nil
}
