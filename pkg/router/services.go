package router

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// replyTopic is the publish topic of RPC handlers; replyPublisher ignores
// it (each reply goes to its request's reply_to).
const replyTopic = "servicebus.reply"

// AddRPCService registers an RPC service (py-servicebus add_rpc_service) as
// a Watermill handler of its own on Router(), named
// RPCHandlerName(category, name), and returns that handler. Middleware in m,
// or added with the handler's AddMiddleware before it runs, wraps this
// service alone; it runs after the built-in middleware and the agent's
// (AddRPCMiddleware). A service added while the agent runs starts at once
// (router.RunHandlers), so give its middleware in m: Watermill ignores
// middleware added to a running handler.
//
// It panics on an empty category or name, a nil service or a duplicate.
func (a *Agent) AddRPCService(category, name string, svc RPCService, m ...message.HandlerMiddleware) *message.Handler {
	checkName("RPC", category, name, svc == nil)
	topic := RPCHandlerName(category, name)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.services.addRPC(category, name, svc, topic)
	h := a.router.AddHandler(topic, topic, a.sub, replyTopic, replyPublisher{a}, HandleRPC(svc))
	a.addMiddleware(h, true, m)
	a.runHandlers()
	return h
}

// AddMessageService registers a message service as a Watermill handler of
// its own, named MessageHandlerName(category, name); same rules as
// AddRPCService. Its middleware runs inside the built-in retry.
func (a *Agent) AddMessageService(category, name string, svc MessageService, m ...message.HandlerMiddleware) *message.Handler {
	checkName("message", category, name, svc == nil)
	topic := MessageHandlerName(category, name)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.services.addMessage(category, name, svc, topic)
	h := a.router.AddConsumerHandler(topic, topic, a.sub, HandleMessage(svc))
	a.addMiddleware(h, false, m)
	a.runHandlers()
	return h
}

// handleUnroutedRPC is the RPC catch-all handler's function: a call no
// service handler took is of an unknown service (PING and undecodable
// bodies were answered by Decode), or of one added since it was routed.
func (a *Agent) handleUnroutedRPC(msg *message.Message) ([]*message.Message, error) {
	req, err := requestOf(msg)
	if err != nil {
		return nil, err
	}
	if svc := a.services.rpcService(req.Category, req.Service); svc != nil {
		return HandleRPC(svc)(msg)
	}
	a.observe(msg, OutcomeUnknownService, nil)
	return nil, &Error{Code: codec.CodeUnknownService, Message: codec.UnknownServiceText(req.Category, req.Service)}
}

// handleUnroutedMessage is the message catch-all handler's function: a
// message to a name that only an RPC service has runs it and drops its
// result (a py-servicebus sender may send to either); other names are
// unknown.
func (a *Agent) handleUnroutedMessage(msg *message.Message) error {
	req, err := requestOf(msg)
	if err != nil {
		return err
	}
	if svc := a.services.messageService(req.Category, req.Service); svc != nil {
		return svc(msg.Context(), req)
	}
	a.observe(msg, OutcomeUnknownService, nil)
	return &Error{Code: codec.CodeUnknownService, Message: codec.UnknownServiceText(req.Category, req.Service)}
}

type serviceKey struct{ category, name string }

type rpcEntry struct {
	svc RPCService
	in  chan *message.Message // its handler's input
}

type messageEntry struct {
	svc MessageService
	in  chan *message.Message
}

// services is the table of a node's services and of the input of every
// handler the agent added; safe to change while the agent runs.
type services struct {
	mu     sync.RWMutex
	rpc    map[serviceKey]rpcEntry
	msg    map[serviceKey]messageEntry
	inputs map[string]chan *message.Message // by handler name, which is its topic
	closed bool                             // closeInputs ran
}

func newServices() *services {
	return &services{rpc: map[serviceKey]rpcEntry{}, msg: map[serviceKey]messageEntry{}, inputs: map[string]chan *message.Message{}}
}

func checkName(kind, category, name string, nilService bool) {
	if category == "" || name == "" {
		panic(fmt.Sprintf("router: %s service needs a category and a name (got %q, %q)", kind, category, name))
	}
	if nilService {
		panic(fmt.Sprintf("router: %s service %s.%s is nil", kind, category, name))
	}
}

// addInput makes the input of the handler named topic; s.mu is held.
func (s *services) addInput(topic string) chan *message.Message {
	in := make(chan *message.Message)
	s.inputs[topic] = in
	return in
}

func (s *services) addCatchAll(topic string) chan *message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addInput(topic)
}

func (s *services) addRPC(category, name string, svc RPCService, topic string) {
	insert(s, s.rpc, "RPC", category, name, topic, func(in chan *message.Message) rpcEntry { return rpcEntry{svc, in} })
}

func (s *services) addMessage(category, name string, svc MessageService, topic string) {
	insert(s, s.msg, "message", category, name, topic, func(in chan *message.Message) messageEntry { return messageEntry{svc, in} })
}

// insert adds the entry of a new service and its handler's input to table.
func insert[E any](s *services, table map[serviceKey]E, kind, category, name, topic string, entry func(chan *message.Message) E) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := serviceKey{category, name}
	if _, ok := table[k]; ok {
		panic(fmt.Sprintf("router: %s service %s.%s added twice", kind, category, name))
	}
	table[k] = entry(s.addInput(topic))
}

// route is the input of the handler of a call (rpc) or message to
// category.name; nil when no service handler takes it.
func (s *services) route(rpc bool, category, name string) chan *message.Message {
	k := serviceKey{category, name}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if rpc {
		return s.rpc[k].in
	}
	return s.msg[k].in
}

// input is what Subscribe(topic) returns; nil for a topic of no handler of
// ours or once the inputs are closed.
func (s *services) input(topic string) chan *message.Message {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil
	}
	return s.inputs[topic]
}

// closeInputs ends every handler's input; the consume loops have ended.
func (s *services) closeInputs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, in := range s.inputs {
		close(in)
	}
}

func (s *services) rpcService(category, name string) RPCService {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rpc[serviceKey{category, name}].svc
}

// messageService finds the message service, else an RPC service of the same
// name whose result is dropped.
func (s *services) messageService(category, name string) MessageService {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.msg[serviceKey{category, name}]; ok {
		return e.svc
	}
	if e, ok := s.rpc[serviceKey{category, name}]; ok {
		return func(ctx context.Context, req *Request) error {
			_, err := e.svc(ctx, req)
			return err
		}
	}
	return nil
}
