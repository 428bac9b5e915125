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

	"github.com/go-servicebus/servicebus/internal/ratelog"
	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Names of the two catch-all handlers: they take the calls (HandlerRPC) and
// messages (HandlerMessage) that no service handler takes: PING, bodies
// that do not decode, unknown services.
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
	sub       *subscriber
	builtin   Builtin
	marshaler codec.Marshaler
	stats     counters
	poison    *poisonTable
	rejectLog ratelog.Limiter
	tr        tracing.Tracing

	sem          chan struct{} // one token per delivery in flight
	rpcIn, msgIn chan *message.Message
	baseCtx      context.Context // parent of every message's context; cancelled when a drain times out
	cancelBase   context.CancelCauseFunc

	mwMu         sync.Mutex
	rpcMW, msgMW []message.HandlerMiddleware // AddRPCMiddleware, AddMessageMiddleware

	mu            sync.Mutex
	started       bool // Start was called
	routerStarted bool // router.Run was launched
	routerRunning bool // router.Run runs the handlers: new ones need RunHandlers
	stopping      bool
	feedStopped   bool // stopFeed is closed
	paths         []*broker.Path
	conns         []*pathConn // the live connection of each path, nil while down
	parseLosses   []int       // per path: connections lost in a row to a delivery amqp091-go cannot parse
	onStart       []func(context.Context) error
	onExit        []func()

	stopFeed   chan struct{} // closed when nothing more is handed over
	abandon    chan struct{} // closed by Close when in-flight work is left behind
	aborted    atomic.Bool   // the drain timed out
	consumeWG  sync.WaitGroup
	checksWG   sync.WaitGroup // resubscribeCluster's checks; waited for after the paths closed
	watched    string         // the queue watchQueue checks: the node queue (a test may change it)
	inflight   sync.WaitGroup
	routerDone chan struct{}
	routerErr  error
	closeOnce  sync.Once
	closeErr   error
}

// NewAgent builds an agent from cfg; it does not connect until Start. A nil
// logger logs nothing.
func NewAgent(cfg Config, logger watermill.LoggerAdapter) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("router: invalid config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	logger = logger.With(watermill.LogFields{"node": cfg.NodeName})
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: abortGrace}, logger)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	baseCtx, cancel := context.WithCancelCause(context.Background())
	a := &Agent{
		cfg:         cfg,
		logger:      logger,
		services:    newServices(),
		poison:      newPoisonTable(),
		tr:          tracing.New(cfg.TracerProvider, cfg.Propagator),
		router:      r,
		sem:         make(chan struct{}, cfg.Concurrency),
		baseCtx:     baseCtx,
		cancelBase:  cancel,
		paths:       make([]*broker.Path, len(cfg.Endpoints)),
		conns:       make([]*pathConn, len(cfg.Endpoints)),
		parseLosses: make([]int, len(cfg.Endpoints)),
		stopFeed:    make(chan struct{}),
		watched:     cfg.NodeName,
		abandon:     make(chan struct{}),
		routerDone:  make(chan struct{}),
	}
	a.sub = &subscriber{a: a}
	a.builtin = Builtin{
		Codec:    cfg.Codec,
		Tokens:   cfg.Tokens,
		Caller:   cfg.Caller,
		Retry:    cfg.MessageRetry,
		Observer: a.observe,
		Logger:   logger,
	}
	a.rpcIn = a.services.addCatchAll(HandlerRPC)
	a.msgIn = a.services.addCatchAll(HandlerMessage)
	a.addMiddleware(r.AddHandler(HandlerRPC, HandlerRPC, a.sub, replyTopic, replyPublisher{a}, a.handleUnroutedRPC), true, nil)
	a.addMiddleware(r.AddConsumerHandler(HandlerMessage, HandlerMessage, a.sub, a.handleUnroutedMessage), false, nil)
	return a, nil
}

// addMiddleware gives a handler of the agent its middleware: the built-in
// ones, then the agent's (AddRPCMiddleware, AddMessageMiddleware), then
// the service's own. Handler-level only: servicebus adds no router-wide
// middleware, so handlers of other subscribers run untouched.
func (a *Agent) addMiddleware(h *message.Handler, rpc bool, own []message.HandlerMiddleware) {
	h.AddMiddleware(growStack)
	if rpc {
		h.AddMiddleware(a.builtin.RPC()...)
	} else {
		h.AddMiddleware(a.builtin.Message()...)
	}
	h.AddMiddleware(a.agentMiddleware(rpc))
	h.AddMiddleware(own...)
}

// agentMiddleware applies the agent's middleware of one kind as they are
// when the handler starts, so that they reach every service handler,
// whenever it was added, at the same place in its chain.
func (a *Agent) agentMiddleware(rpc bool) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		a.mwMu.Lock()
		mws := a.msgMW
		if rpc {
			mws = a.rpcMW
		}
		mws = append([]message.HandlerMiddleware(nil), mws...)
		a.mwMu.Unlock()
		for i := len(mws) - 1; i >= 0; i-- {
			h = mws[i](h)
		}
		return h
	}
}

// AddMiddleware adds Watermill middleware to every service of the agent,
// RPC and message alike, also those added later; it runs after the
// built-in middleware, around each service (and its own middleware). Add
// it before Start.
func (a *Agent) AddMiddleware(m ...message.HandlerMiddleware) {
	a.mwMu.Lock()
	defer a.mwMu.Unlock()
	a.rpcMW = append(a.rpcMW, m...)
	a.msgMW = append(a.msgMW, m...)
}

// AddRPCMiddleware adds middleware to every RPC service. Add it before Start.
func (a *Agent) AddRPCMiddleware(m ...message.HandlerMiddleware) {
	a.mwMu.Lock()
	defer a.mwMu.Unlock()
	a.rpcMW = append(a.rpcMW, m...)
}

// AddMessageMiddleware adds middleware to every message service (Watermill's
// Timeout, CircuitBreaker, Throttle, a Retry of your own). It runs inside
// the built-in retry. Add it before Start.
func (a *Agent) AddMessageMiddleware(m ...message.HandlerMiddleware) {
	a.mwMu.Lock()
	defer a.mwMu.Unlock()
	a.msgMW = append(a.msgMW, m...)
}

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

// Router is the Watermill router the services run on, one handler each
// (RPCHandlerName, MessageHandlerName) beside the catch-alls HandlerRPC and
// HandlerMessage. Add handlers of your own to it, with any subscriber, and
// router-level middleware, plugins and decorators (Watermill's metrics),
// before Start; a handler of your own added while the agent runs starts
// with its RunHandlers. Router-level middleware reaches the agent's
// handlers too: it runs around the built-in middleware of the handlers
// added after it, inside that of those added before (Watermill runs
// middleware in the order they were added).
func (a *Agent) Router() *message.Router { return a.router }

// runHandlers starts the handlers added while the router runs; a.mu is held.
func (a *Agent) runHandlers() {
	if !a.routerRunning || a.stopping {
		return
	}
	if err := a.router.RunHandlers(context.Background()); err != nil {
		a.logger.Error("Could not start a service's handler", err, nil)
	}
}

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
	// A service added while Run started the handlers may have been missed
	// by it; RunHandlers starts only those not running yet.
	a.routerRunning = true
	a.runHandlers()
	for i, ep := range a.cfg.Endpoints {
		var onProbe func(time.Duration, error)
		if f, name := a.cfg.OnProbe, ep.String(); f != nil {
			onProbe = func(took time.Duration, err error) { f(name, took, err) }
		}
		a.paths[i] = broker.NewPath(broker.PathConfig{
			Endpoint:      ep,
			Backoff:       a.cfg.Backoff,
			ProbeInterval: a.cfg.ProbeInterval,
			OnUp:          a.onUp(i, ep.String()),
			OnDown:        a.onDown(i),
			OnProbe:       onProbe,
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

// BrokerState is the state of one broker as the agent sees it (Brokers).
type BrokerState struct {
	Broker string `json:"broker"` // the endpoint, without credentials
	// Consuming: the node queue is consumed on it now.
	Consuming bool `json:"consuming"`
	// Connects counts the connections set up since Start.
	Connects int `json:"connects"`
	// Err is why the last connect failed or the connection was lost; empty
	// while it never failed.
	Err string `json:"error,omitempty"`
}

// Brokers is the state of every broker in config order; before Start none
// is consuming.
func (a *Agent) Brokers() []BrokerState {
	a.mu.Lock()
	out := make([]BrokerState, len(a.cfg.Endpoints))
	paths := append([]*broker.Path(nil), a.paths...)
	for i, ep := range a.cfg.Endpoints {
		out[i] = BrokerState{Broker: ep.String(), Consuming: a.conns[i] != nil}
	}
	a.mu.Unlock()
	for i, p := range paths {
		if p == nil {
			continue
		}
		st := p.State()
		out[i].Connects = st.Connects
		if st.Err != nil {
			out[i].Err = st.Err.Error()
		}
	}
	return out
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

// stopFeeding makes the consume loops hand over nothing more and end.
func (a *Agent) stopFeeding() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.feedStopped {
		a.feedStopped = true
		close(a.stopFeed)
	}
}

// Close stops consuming on every broker (basic.cancel), waits up to
// DrainTimeout for the work in flight, then closes the router and the
// connections. Work still running after that has its context cancelled
// (cause ErrDrainTimeout) and its delivery given back to the broker. Close
// is idempotent.
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

	a.stopFeeding()
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
		a.cancelBase(ErrDrainTimeout)
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
	a.checksWG.Wait() // their calls end with the connections
	cancels.Wait()
	a.cancelBase(nil)
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
