package broker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultSetupTimeout bounds the set-up of a new connection (OnUp).
const DefaultSetupTimeout = 10 * time.Second

// DefaultProbeInterval is how often a path checks that its broker still
// answers when no interval is configured.
const DefaultProbeInterval = 5 * time.Second

// PathConfig configures one broker connection kept alive in the background.
type PathConfig struct {
	Endpoint Endpoint
	Backoff  Backoff
	// ProbeInterval is the period of the active health probe (the successor
	// of py-servicebus's PingWatcher): an AMQP round trip with a deadline on a
	// channel of its own. A failed probe closes the connection and the path
	// reconnects. 0 means DefaultProbeInterval; negative turns the probe off.
	ProbeInterval time.Duration
	// ProbeTimeout bounds one probe; 0 means the probe interval, at most 5 s.
	ProbeTimeout time.Duration
	// OnUp runs after every connect, before the path counts as healthy:
	// declare topology, open channels, start consumers. An error closes the
	// connection and the path tries again after a backoff.
	OnUp func(conn *amqp.Connection) error
	// SetupTimeout bounds OnUp: past it the connection is closed under OnUp,
	// whose broker calls then fail. 0 means DefaultSetupTimeout.
	SetupTimeout time.Duration
	// OnDown runs once a connection that OnUp accepted is gone, with the
	// reason, before the next attempt. Work bound to that connection fails here.
	OnDown func(err error)
	// OnProbe, if set, learns every health probe's round trip and error
	// (for metrics); it runs on the path's goroutine and must not block.
	OnProbe func(took time.Duration, err error)
}

// Path is one broker connection that re-establishes itself: dial, OnUp,
// watch (connection close, heartbeats, probe, connection.blocked), OnDown,
// backoff with jitter, again — until Close.
type Path struct {
	cfg    PathConfig
	logger watermill.LoggerAdapter

	mu       sync.Mutex
	conn     *amqp.Connection // nil while down
	blocked  bool             // the broker blocked publishers (resource alarm)
	changed  chan struct{}    // closed and replaced at every state change
	lastErr  error
	refused  *RefusedError // the last attempt's refusal that cannot heal; nil once one did otherwise
	connects int           // connects that OnUp accepted
	failures int           // failed attempts since the last such connect

	loggedCause string // the failure last logged at error level

	kill    chan killRequest
	closing chan struct{}
	ctx     context.Context // ends at Close: aborts a dial or a set-up under way
	abort   context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// PathState is a snapshot of a Path.
type PathState struct {
	// Healthy: connected, set up, and not blocked by a resource alarm.
	Healthy bool
	// Blocked: the broker blocks publishers on the connection.
	Blocked bool
	// Connects counts the connections OnUp accepted since NewPath.
	Connects int
	// Failures counts the attempts (dial or set-up) that failed since the
	// last connect OnUp accepted, or since NewPath.
	Failures int
	// Err is the reason of the last failure, nil if there was none.
	Err error
	// Refused is set when the last attempt ended in a refusal that
	// retrying cannot heal (see ErrRefused), and cleared by any other
	// outcome.
	Refused *RefusedError
}

// NewPath starts keeping a connection to cfg.Endpoint; it returns at once.
// A nil logger logs nothing.
func NewPath(cfg PathConfig, logger watermill.LoggerAdapter) *Path {
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = DefaultSetupTimeout
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = min(cfg.ProbeInterval, 5*time.Second)
		if cfg.ProbeTimeout <= 0 {
			cfg.ProbeTimeout = 5 * time.Second
		}
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	ctx, abort := context.WithCancelCause(context.Background())
	p := &Path{
		cfg:     cfg,
		logger:  logger.With(watermill.LogFields{"broker": cfg.Endpoint.String()}),
		changed: make(chan struct{}),
		kill:    make(chan killRequest, 8),
		closing: make(chan struct{}),
		ctx:     ctx,
		abort:   func() { abort(ErrClosed) },
		done:    make(chan struct{}),
	}
	go p.run()
	return p
}

// Endpoint is the broker this path connects to.
func (p *Path) Endpoint() Endpoint { return p.cfg.Endpoint }

// Conn is the current connection, or nil while the path is down.
func (p *Path) Conn() *amqp.Connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

// Healthy reports whether the path is connected, set up and not blocked by a
// broker resource alarm.
func (p *Path) Healthy() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn != nil && !p.blocked
}

// Blocked reports whether the broker has blocked publishers on this path.
// RabbitMQ tells only connections that have published since the alarm began,
// so an idle path stays unblocked until its first publish.
func (p *Path) Blocked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked
}

// Err is the reason of the last failure, nil if there was none.
func (p *Path) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// State is a snapshot of the path's state.
func (p *Path) State() PathState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PathState{
		Healthy:  p.conn != nil && !p.blocked,
		Blocked:  p.blocked,
		Connects: p.connects,
		Failures: p.failures,
		Err:      p.lastErr,
		Refused:  p.refused,
	}
}

// Changed returns a channel that is closed at the path's next state change
// (up, down, blocked, unblocked, closed).
func (p *Path) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

type killRequest struct {
	conn   *amqp.Connection
	reason error
}

// Kill drops the current connection as broken, for failures only the user of
// the path can see. A Kill while the path is down does nothing. Prefer
// KillConn, which names the connection that failed.
func (p *Path) Kill(reason error) {
	if conn := p.Conn(); conn != nil {
		p.KillConn(conn, reason)
	}
}

// KillConn drops conn as broken (a publish confirm that never came, a
// consumer the broker cancelled) and the path reconnects. It does nothing when
// conn is no longer the path's connection, so a late kill never hits the next
// one.
func (p *Path) KillConn(conn *amqp.Connection, reason error) {
	if conn == nil {
		return
	}
	select {
	case p.kill <- killRequest{conn: conn, reason: reason}:
	default:
	}
}

// ProbeInterval is the period of the path's health probe, defaults
// applied; negative when the probe is off.
func (p *Path) ProbeInterval() time.Duration { return p.cfg.ProbeInterval }

// Close stops the path and closes its connection. It is idempotent and
// returns once the background loop has ended and OnDown has run. A dial or
// a set-up under way is cut short (its socket closed), so Close does not
// wait for a broker that does not answer; a connection that is up is closed
// with the broker's close-ok, within 1 s.
func (p *Path) Close() error {
	p.once.Do(func() {
		close(p.closing)
		p.abort()
	})
	<-p.done
	return nil
}

func (p *Path) setState(conn *amqp.Connection, blocked bool, err error) {
	p.mu.Lock()
	p.conn, p.blocked = conn, blocked
	if err != nil {
		p.lastErr = err
	}
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// attemptFailed records a failed dial or set-up, and whether it was a
// refusal that cannot heal.
func (p *Path) attemptFailed(err error, refused *RefusedError) {
	p.mu.Lock()
	p.failures++
	p.refused = refused
	p.mu.Unlock()
	p.setState(nil, false, err)
}

// connected records a connect that OnUp accepted.
func (p *Path) connected(conn *amqp.Connection) {
	p.mu.Lock()
	p.connects++
	p.failures = 0
	p.refused = nil
	p.mu.Unlock()
	p.setState(conn, false, nil)
}

// logFailure logs a failed attempt: at error level when its cause differs
// from the last one logged so (a refusal, a set-up that fails), so that a
// broker refusing every few seconds is one line, not one per attempt; at
// info level when it is only unreachable (it may be starting up).
func (p *Path) logFailure(msg string, err error, loud bool, fields watermill.LogFields) {
	cause := err.Error()
	if !loud {
		p.loggedCause = ""
		p.logger.Info(msg, fields.Add(watermill.LogFields{"err": err}))
		return
	}
	if cause == p.loggedCause {
		p.logger.Debug(msg+" (again)", fields.Add(watermill.LogFields{"err": err}))
		return
	}
	p.loggedCause = cause
	p.logger.Error(msg, err, fields)
}

func (p *Path) run() {
	defer close(p.done)
	defer p.setState(nil, false, ErrClosed)
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !p.sleep(p.cfg.Backoff.Delay(attempt-1)) {
			return
		}
		select {
		case <-p.closing:
			return
		default:
		}
		conn, err := p.cfg.Endpoint.DialContext(p.ctx)
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			refused, ok := refusal(p.cfg.Endpoint.String(), err, false)
			if ok {
				err = refused
			}
			p.attemptFailed(err, refused)
			msg := "Broker not reachable"
			if ok {
				msg = "Broker refused the connection"
			}
			p.logFailure(msg, err, ok, watermill.LogFields{"attempt": attempt})
			continue
		}
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		blockings := conn.NotifyBlocked(make(chan amqp.Blocking, 4))
		if !p.setUp(conn) {
			continue
		}
		p.logger.Info("Broker connected", nil)
		p.loggedCause = ""
		p.connected(conn)
		attempt = 0
		reason := p.watch(conn, closed, blockings)
		p.setState(nil, false, reason)
		if reason != ErrClosed {
			p.logger.Info("Broker connection lost", watermill.LogFields{"err": reason})
		}
		// A silent link makes the close wait its full deadline: run OnDown
		// meanwhile, so work bound to the connection fails at once.
		closeDone := make(chan struct{})
		go func() {
			defer close(closeDone)
			_ = conn.CloseDeadline(time.Now().Add(time.Second))
		}()
		if p.cfg.OnDown != nil {
			p.cfg.OnDown(reason)
		}
		<-closeDone
		if reason == ErrClosed {
			return
		}
	}
}

// setUp runs OnUp on a new connection within SetupTimeout, cut short by
// Close; false when it failed (the connection is closed then, and OnDown
// has run if OnUp finished as the set-up was given up).
func (p *Path) setUp(conn *amqp.Connection) bool {
	if p.cfg.OnUp == nil {
		return true
	}
	// A broker that accepts the connection and then goes silent would hold
	// OnUp until the heartbeats give up; Close must not wait for it either.
	stuck := time.AfterFunc(p.cfg.SetupTimeout, func() { _ = conn.CloseDeadline(time.Now()) })
	stopAbort := context.AfterFunc(p.ctx, func() { _ = conn.CloseDeadline(time.Now()) })
	err := p.cfg.OnUp(conn)
	upDone := err == nil
	aborted := !stopAbort()
	if !stuck.Stop() && err == nil {
		err = fmt.Errorf("set-up took longer than %s", p.cfg.SetupTimeout)
	}
	if aborted && err == nil {
		err = ErrClosed
	}
	if err == nil {
		return true
	}
	err = fmt.Errorf("broker: set up %s: %w", p.cfg.Endpoint.String(), err)
	_ = conn.CloseDeadline(time.Now().Add(time.Second))
	var refused *RefusedError
	if p.ctx.Err() == nil {
		var ok bool
		if refused, ok = refusal(p.cfg.Endpoint.String(), err, true); ok {
			err = refused
		}
		p.logFailure("Broker set-up failed", err, true, nil)
	}
	p.attemptFailed(err, refused)
	if upDone && p.cfg.OnDown != nil {
		// OnUp finished as the timer or Close closed the connection under
		// it: what it set up must be undone.
		p.cfg.OnDown(err)
	}
	return false
}

// watch blocks until the connection is lost, the probe fails, Kill or Close.
func (p *Path) watch(conn *amqp.Connection, closed <-chan *amqp.Error, blockings <-chan amqp.Blocking) error {
	var tick <-chan time.Time
	var probeCh *amqp.Channel
	if p.cfg.ProbeInterval > 0 {
		t := time.NewTicker(p.cfg.ProbeInterval)
		defer t.Stop()
		tick = t.C
	}
	blocked := false
	for {
		select {
		case <-p.closing:
			return ErrClosed
		case k := <-p.kill:
			if k.conn == conn {
				return k.reason
			}
		case amqpErr, ok := <-closed:
			if !ok || amqpErr == nil {
				return fmt.Errorf("broker: connection to %s closed", p.cfg.Endpoint.String())
			}
			return fmt.Errorf("broker: connection to %s closed: %w", p.cfg.Endpoint.String(), amqpErr)
		case b := <-blockings:
			blocked = b.Active
			p.setState(conn, b.Active, nil)
			if b.Active {
				p.logger.Info("Broker blocks publishers", watermill.LogFields{"reason": b.Reason})
			}
		case <-tick:
			if blocked {
				// The broker stops reading a blocked connection until its
				// alarm clears: a probe would get no answer and throw away
				// a sound connection. Its heartbeats still watch the link.
				continue
			}
			var err error
			start := time.Now()
			probeCh, err = p.probe(conn, probeCh)
			if p.cfg.OnProbe != nil && err != ErrClosed {
				p.cfg.OnProbe(time.Since(start), err)
			}
			if err != nil {
				return err
			}
		}
	}
}

func (p *Path) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.closing:
		return false
	}
}
