package router

import (
	"context"
	"fmt"
	"sync"
)

// RPCService answers a call; its result is sent back as JSON. A returned
// *Error chooses the error code, any other error is CodeServiceError.
type RPCService func(ctx context.Context, req *Request) (any, error)

// MessageService handles a message; nil acks it, an error is retried (see
// Config.MessageRetry) and then rejected (dead-lettered in durable topology).
type MessageService func(ctx context.Context, req *Request) error

// RPC adapts a function of typed params to an RPCService: params that do not
// decode into P are a bad request.
func RPC[P, R any](fn func(ctx context.Context, params P) (R, error)) RPCService {
	return func(ctx context.Context, req *Request) (any, error) {
		var p P
		if err := req.Decode(&p); err != nil {
			return nil, err
		}
		return fn(ctx, p)
	}
}

// Message adapts a function of typed params to a MessageService.
func Message[P any](fn func(ctx context.Context, params P) error) MessageService {
	return func(ctx context.Context, req *Request) error {
		var p P
		if err := req.Decode(&p); err != nil {
			return err
		}
		return fn(ctx, p)
	}
}

type serviceKey struct{ category, name string }

// services is the table of a node's services; safe to change while running.
type services struct {
	mu  sync.RWMutex
	rpc map[serviceKey]RPCService
	msg map[serviceKey]MessageService
}

func newServices() *services {
	return &services{rpc: map[serviceKey]RPCService{}, msg: map[serviceKey]MessageService{}}
}

func checkName(kind, category, name string, nilService bool) {
	if category == "" || name == "" {
		panic(fmt.Sprintf("router: %s service needs a category and a name (got %q, %q)", kind, category, name))
	}
	if nilService {
		panic(fmt.Sprintf("router: %s service %s.%s is nil", kind, category, name))
	}
}

func (s *services) addRPC(category, name string, svc RPCService) {
	checkName("RPC", category, name, svc == nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := serviceKey{category, name}
	if _, ok := s.rpc[k]; ok {
		panic(fmt.Sprintf("router: RPC service %s.%s added twice", category, name))
	}
	s.rpc[k] = svc
}

func (s *services) addMessage(category, name string, svc MessageService) {
	checkName("message", category, name, svc == nil)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := serviceKey{category, name}
	if _, ok := s.msg[k]; ok {
		panic(fmt.Sprintf("router: message service %s.%s added twice", category, name))
	}
	s.msg[k] = svc
}

func (s *services) rpcService(category, name string) RPCService {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rpc[serviceKey{category, name}]
}

// messageService finds the message service, else an RPC service of the same
// name whose result is dropped: a py-servicebus sender may send to either.
func (s *services) messageService(category, name string) MessageService {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if svc := s.msg[serviceKey{category, name}]; svc != nil {
		return svc
	}
	if svc := s.rpc[serviceKey{category, name}]; svc != nil {
		return func(ctx context.Context, req *Request) error {
			_, err := svc(ctx, req)
			return err
		}
	}
	return nil
}
