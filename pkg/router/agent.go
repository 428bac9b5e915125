package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Names of the two watermill handlers (and their topics): deliveries with
// reply_to go to the RPC handler, the others to the message handler.
const (
	HandlerRPC     = "servicebus.rpc"
	HandlerMessage = "servicebus.message"
)

// abortGrace is how long Close waits, after DrainTimeout and the cancel of
// every service's context, before it leaves stuck work behind.
const abortGrace = time.Second

// Agent consumes a node's queue on every broker and runs its services.
type Agent struct {
	cfg       Config
	logger    watermill.LoggerAdapter
	services  *services
	router    *message.Router
	rpcH      *message.Handler
	msgH      *message.Handler
	marshaler codec.Marshaler
	stats     counters
	poison    *poisonTable
	rejectLog rateLog

	sem          chan struct{} // one token per delivery in flight
	rpcCh, msgCh chan *message.Message
	baseCtx      context.Context // parent of every message's context; cancelled when a drain times out
	cancelBase   context.CancelFunc

	mu            sync.Mutex
	started       bool // Start was called
	routerStarted bool // router.Run was launched
	stopping      bool
	paths         []*broker.Path
	conns         []*pathConn // the live connection of each path, nil while down
	parseLosses   []int       // per path: connections lost in a row to a delivery amqp091-go cannot parse
	onStart       []func(context.Context) error
	onExit        []func()

	stopFeed   chan struct{} // closed by Close: hand over nothing more
	abandon    chan struct{} // closed by Close when in-flight work is left behind
	aborted    atomic.Bool   // the drain timed out
	consumeWG  sync.WaitGroup
	inflight   sync.WaitGroup
	routerDone chan struct{}
	routerErr  error
	closeOnce  sync.Once
	closeErr   error
}

// NewAgent builds an agent from cfg; it does not connect until Start. A nil
// logger falls back to cfg.Logger, then to no logging.
func NewAgent(cfg Config, logger watermill.LoggerAdapter) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("router: invalid config: %w", err)
	}
	if logger == nil {
		logger = cfg.Logger
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	logger = logger.With(watermill.LogFields{"node": cfg.NodeName})
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: abortGrace}, logger)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg:         cfg,
		logger:      logger,
		services:    newServices(),
		poison:      newPoisonTable(),
		router:      r,
		sem:         make(chan struct{}, cfg.Concurrency),
		rpcCh:       make(chan *message.Message),
		msgCh:       make(chan *message.Message),
		baseCtx:     baseCtx,
		cancelBase:  cancel,
		paths:       make([]*broker.Path, len(cfg.Endpoints)),
		conns:       make([]*pathConn, len(cfg.Endpoints)),
		parseLosses: make([]int, len(cfg.Endpoints)),
		stopFeed:    make(chan struct{}),
		abandon:     make(chan struct{}),
		routerDone:  make(chan struct{}),
	}
	sub := &subscriber{a: a}
	a.rpcH = r.AddHandler(HandlerRPC, HandlerRPC, sub, "reply", replyPublisher{a}, a.dispatchRPC)
	a.msgH = r.AddConsumerHandler(HandlerMessage, HandlerMessage, sub, a.dispatchMessage)
	// Order of execution: answer|recover, decode, token, deadline, [retry],
	// user middleware, dispatch.
	a.rpcH.AddMiddleware(a.answer)
	a.msgH.AddMiddleware(a.recoverMessage)
	r.AddMiddleware(a.decode, a.checkToken, a.checkDeadline)
	if cfg.MessageRetry.MaxRetries > 0 {
		a.msgH.AddMiddleware(a.retryMiddleware())
	}
	return a, nil
}

// AddRPCService registers an RPC service (py-servicebus add_rpc_service). It
// panics on an empty category or name, a nil service or a duplicate.
// Services may be added while the agent runs.
func (a *Agent) AddRPCService(category, name string, svc RPCService) {
	a.services.addRPC(category, name, svc)
}

// AddMessageService registers a message service; same rules as AddRPCService.
func (a *Agent) AddMessageService(category, name string, svc MessageService) {
	a.services.addMessage(category, name, svc)
}

// AddMiddleware adds watermill middleware to RPCs and messages alike; it
// runs after the deadline check, around the service. Add it before Start.
func (a *Agent) AddMiddleware(m ...message.HandlerMiddleware) { a.router.AddMiddleware(m...) }

// AddRPCMiddleware adds middleware for RPCs only. Add it before Start.
func (a *Agent) AddRPCMiddleware(m ...message.HandlerMiddleware) { a.rpcH.AddMiddleware(m...) }

// AddMessageMiddleware adds middleware for messages only (watermill's
// Timeout, CircuitBreaker, Throttle, a Retry of your own). It runs inside
// the built-in retry. Add it before Start.
func (a *Agent) AddMessageMiddleware(m ...message.HandlerMiddleware) { a.msgH.AddMiddleware(m...) }

// OnStart adds a hook that Start runs before consuming; an error stops Start.
func (a *Agent) OnStart(fn func(ctx context.Context) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onStart = append(a.onStart, fn)
}

// OnExit adds a hook that Close runs after the drain, before the broker
// connections close (services can still reply then).
func (a *Agent) OnExit(fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onExit = append(a.onExit, fn)
}

// Router is the watermill router the services run on, for plugins and
// decorators; add to it before Start.
func (a *Agent) Router() *message.Router { return a.router }

// Start runs the OnStart hooks, starts the router and begins consuming on
// every broker; it returns without waiting for the brokers (see Consuming).
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.stopping:
		a.mu.Unlock()
		return ErrClosed
	case a.started:
		a.mu.Unlock()
		return ErrStarted
	}
	a.started = true
	hooks := append([]func(context.Context) error(nil), a.onStart...)
	a.mu.Unlock()

	for _, fn := range hooks {
		if err := fn(ctx); err != nil {
			return fmt.Errorf("router: start hook: %w", err)
		}
	}
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return ErrClosed
	}
	a.routerStarted = true
	a.mu.Unlock()
	go func() {
		defer close(a.routerDone)
		a.routerErr = a.router.Run(context.Background())
	}()
	select {
	case <-a.router.Running():
	case <-a.routerDone:
		return fmt.Errorf("router: %w", a.routerErr)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return ErrClosed
	}
	for i, ep := range a.cfg.Endpoints {
		a.paths[i] = broker.NewPath(broker.PathConfig{
			Endpoint:      ep,
			Backoff:       a.cfg.Backoff,
			ProbeInterval: a.cfg.ProbeInterval,
			OnUp:          a.onUp(i, ep.String()),
			OnDown:        a.onDown(i),
		}, a.logger)
	}
	return nil
}

// Run starts the agent, serves until ctx is done, then drains and closes.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return errors.Join(err, a.Close())
	}
	<-ctx.Done()
	return a.Close()
}

// Consuming is the number of brokers whose node queue is consumed now.
func (a *Agent) Consuming() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, pc := range a.conns {
		if pc != nil {
			n++
		}
	}
	return n
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	s := a.stats.snapshot()
	s.InFlight = len(a.sem)
	s.Consuming = a.Consuming()
	return s
}

func (a *Agent) path(i int) *broker.Path {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.paths[i]
}

// Close stops consuming on every broker (basic.cancel), waits up to
// DrainTimeout for the work in flight, then closes the router and the
// connections. Work still running after that has its context cancelled and
// its delivery given back to the broker. Close is idempotent.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() { a.closeErr = a.close() })
	return a.closeErr
}

func (a *Agent) close() error {
	a.mu.Lock()
	a.stopping = true
	started := a.routerStarted
	var conns []*pathConn
	for _, pc := range a.conns {
		if pc != nil {
			conns = append(conns, pc)
		}
	}
	paths := append([]*broker.Path(nil), a.paths...)
	exits := append([]func(){}, a.onExit...)
	a.mu.Unlock()

	close(a.stopFeed)
	// basic.cancel lets the broker give what this agent has not started to
	// other consumers. It can block on a dead link until the path notices,
	// so it runs beside the drain; closing the paths ends it.
	var cancels sync.WaitGroup
	for _, pc := range conns {
		cancels.Add(1)
		go func() {
			defer cancels.Done()
			_ = pc.ch.Cancel(pc.tag, false)
		}()
	}
	a.consumeWG.Wait()

	var errs []error
	if !waitTimeout(&a.inflight, a.cfg.DrainTimeout) {
		a.logger.Error("Drain timed out, cancelling services", fmt.Errorf("%d deliveries still in flight after %s", len(a.sem), a.cfg.DrainTimeout), nil)
		a.aborted.Store(true)
		a.cancelBase()
		if !waitTimeout(&a.inflight, abortGrace) {
			errs = append(errs, fmt.Errorf("router: %d deliveries left unfinished at close", len(a.sem)))
			close(a.abandon)
			a.inflight.Wait()
		}
	}
	if started {
		if err := a.router.Close(); err != nil {
			errs = append(errs, fmt.Errorf("router: %w", err))
		}
		<-a.routerDone
	}
	for _, fn := range exits {
		fn()
	}
	for _, p := range paths {
		if p != nil {
			_ = p.Close()
		}
	}
	cancels.Wait()
	a.cancelBase()
	return errors.Join(errs...)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// subscriber is the message.Subscriber the two handlers read: it hands over
// the deliveries of every path (see consume).
type subscriber struct {
	a    *Agent
	once sync.Once
}

func (s *subscriber) Subscribe(_ context.Context, topic string) (<-chan *message.Message, error) {
	switch topic {
	case HandlerRPC:
		return s.a.rpcCh, nil
	case HandlerMessage:
		return s.a.msgCh, nil
	}
	return nil, fmt.Errorf("router: unknown topic %q", topic)
}

// Close ends the handlers' input; the agent calls it (through the router)
// only after every consume loop has ended.
func (s *subscriber) Close() error {
	s.once.Do(func() {
		close(s.a.rpcCh)
		close(s.a.msgCh)
	})
	return nil
}
