package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Errors of the publisher. Callers branch on them with errors.Is.
var (
	// ErrNoRoute means the broker returned a mandatory publish: no queue is
	// bound for its routing key (for a call: no agent ever served that node
	// on that broker). It comes back as soon as the return arrives.
	ErrNoRoute = errors.New("failover: no route (no queue bound for the routing key)")
	// ErrUnavailable means no healthy, unblocked path took the publish before
	// its deadline. It is retryable.
	ErrUnavailable = errors.New("failover: no broker available")
	// ErrClosed means the publisher was closed.
	ErrClosed = errors.New("failover: publisher closed")
	// ErrNacked means a broker refused a publish (basic.nack); the publisher
	// moves the publish to the next path before reporting it.
	ErrNacked = errors.New("failover: publish nacked by broker")
	// ErrConfirmTimeout means no confirm came within ConfirmTimeout; the path
	// is killed as broken and the publish moved to the next path.
	ErrConfirmTimeout = errors.New("failover: publish confirm timed out")
	// ErrPathLost means the connection a publish went out on died before its
	// confirm came.
	ErrPathLost = errors.New("failover: connection lost before confirm")
	// ErrBlocked means the broker blocked publishers (a memory or disk
	// alarm) while a publish waited there; the publish moves on. The message
	// may still be delivered by that broker once the alarm clears.
	ErrBlocked = errors.New("failover: broker blocks publishers (resource alarm)")
)

// Defaults of PublisherConfig.
const (
	DefaultConfirmTimeout = 5 * time.Second
	DefaultPublishTimeout = 30 * time.Second
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Endpoints are the brokers in order of preference; one Path each.
	Endpoints []Endpoint
	Backoff   Backoff
	// ProbeInterval and ProbeTimeout are passed to every Path.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// ConfirmTimeout bounds the wait for one publisher confirm; when it
	// passes the path is killed and the publish moves on. 0 means
	// DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
	// PublishTimeout bounds a publish whose context has no deadline.
	// 0 means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// PreferPrimary true: every publish starts at the first healthy path in
	// config order, so traffic returns to the primary once it is back.
	// false: a publish starts at the path the last publish succeeded on
	// (sticky), and moves on only when that path fails.
	PreferPrimary bool
	// Exchange is where Publish (the Watermill interface) sends: routing key
	// = topic.
	Exchange string
	// OnUp runs on every (re)connect of path index path, after the
	// publishing channel ch was opened in confirm mode and before the path
	// takes publishes: declare topology, start reply consumers (direct
	// reply-to must consume on ch). An error makes the path reconnect.
	OnUp func(path int, conn *amqp.Connection, ch *amqp.Channel) error
	// OnDown runs once the connection OnUp accepted is gone.
	OnDown func(path int, err error)
	Logger watermill.LoggerAdapter
}

func (c *PublisherConfig) setDefaults() {
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate reports every problem of the config at once.
func (c PublisherConfig) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("failover: Endpoints: at least one broker is required"))
	}
	for i, ep := range c.Endpoints {
		if _, err := amqp.ParseURI(ep.URL); err != nil {
			errs = append(errs, fmt.Errorf("failover: Endpoints[%d] (%s): %w", i, ep.String(), err))
		}
	}
	if c.ConfirmTimeout < 0 {
		errs = append(errs, errors.New("failover: ConfirmTimeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// PublishResult says where a publish landed.
type PublishResult struct {
	Path        int    // index of the path in config order
	Endpoint    string // that broker, without credentials
	DeliveryTag uint64 // the confirm's delivery tag on that path's channel
	Attempts    int    // paths tried, 1 when the first took it
}

// Publisher publishes on the first healthy broker with publisher confirms and
// mandatory, moving a publish to the next broker on a nack, a return, a dead
// connection or a confirm timeout.
//
// # Paths and order
//
// One Path per endpoint, in config order. A path takes publishes when it is
// connected, its set-up (OnUp) succeeded, and the broker does not block
// publishers (connection.blocked: a memory or disk alarm). With
// PreferPrimary a publish starts at the first such path, so traffic goes back
// to the primary once its Path has reconnected in the background; without,
// it starts where the last publish succeeded. Failed brokers are re-probed by
// their Path's own reconnect loop (backoff with jitter).
//
// # One publish
//
// On a path, a publish takes the channel's next delivery tag, records itself
// under that tag and its message id (a fresh one is set when empty), and goes
// out with PublishWithDeferredConfirmWithContext, mandatory. Many publishes
// are in flight on a channel at once; one goroutine per channel resolves them
// from basic.ack/basic.nack and basic.return. RabbitMQ sends the return of an
// unroutable message before its ack, and amqp091-go hands both over in that
// order, so a returned publish fails with ErrNoRoute as soon as its ack is
// in — milliseconds, not a timeout.
//
// Then:
//   - ack: done.
//   - return: ErrNoRoute, unless a further ready path routes it.
//   - nack: the next ready path; ErrNacked when every ready path refused.
//   - connection or channel lost before the confirm: the next ready path, or
//     a wait for one to come back.
//   - the broker blocks the connection (connection.blocked, which RabbitMQ
//     sends only to a connection that publishes): publishes waiting there
//     move on at once (ErrBlocked) and the path is skipped until unblocked.
//     It is not killed: a new connection would be blocked again.
//   - no confirm within ConfirmTimeout: the path is killed (it reconnects)
//     and the publish moves on.
//   - no ready path: wait for a path to change state until the deadline
//     (the ctx's, else PublishTimeout), then ErrUnavailable. A publish never
//     hangs.
//
// A publish that failed over may reach two brokers (a lost confirm is not a
// lost message): delivery is at-least-once.
//
// # Why not watermill-amqp's publisher
//
// Its ConfirmDelivery waits for each confirm in turn (one publish in flight
// per channel), its Mandatory has no NotifyReturn behind it so returns are
// lost, and without a channel pool it opens a channel per publish (see
// DESIGN.md, known pitfalls). Confirm pipelining and returns need the
// amqp091-go channel itself, so the Publisher owns its channels and its Path
// owns reconnects; amqp091-go's own connection recovery is not used. The
// Publisher still is a Watermill message.Publisher (Publish), marshaling with
// codec.Marshaler.
type Publisher struct {
	cfg    PublisherConfig
	logger watermill.LoggerAdapter
	paths  []*pathPub

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when any path changes state
	sticky  int           // path of the last success (PreferPrimary false)

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewPublisher starts one Path per endpoint and returns at once; paths
// connect in the background.
func NewPublisher(cfg PublisherConfig) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg:     cfg,
		logger:  cfg.Logger,
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
	for i, ep := range cfg.Endpoints {
		pp := &pathPub{pub: p, idx: i, broker: ep.String(), turn: make(chan struct{}, 1)}
		pp.path = NewPath(PathConfig{
			Endpoint:      ep,
			Backoff:       cfg.Backoff,
			ProbeInterval: cfg.ProbeInterval,
			ProbeTimeout:  cfg.ProbeTimeout,
			OnUp:          pp.onUp,
			OnDown:        pp.onDown,
			Logger:        cfg.Logger,
		})
		p.paths = append(p.paths, pp)
	}
	for _, pp := range p.paths {
		p.wg.Add(1)
		go p.forwardChanges(pp.path)
	}
	return p, nil
}

// Paths is the number of brokers.
func (p *Publisher) Paths() int { return len(p.paths) }

// Path is the path of index i, to look at its state or Kill it.
func (p *Publisher) Path(i int) *Path { return p.paths[i].path }

// Ready reports whether path i takes publishes now: connected, set up and not
// blocked by a resource alarm.
func (p *Publisher) Ready(i int) bool { return p.paths[i].ready() }

// Changed returns a channel closed at the next state change of any path.
func (p *Publisher) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *Publisher) notifyChanged() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// forwardChanges turns one path's state changes into publisher-wide ones,
// so a publish waiting for any broker wakes up.
func (p *Publisher) forwardChanges(path *Path) {
	defer p.wg.Done()
	for {
		ch := path.Changed()
		select {
		case <-ch:
			p.notifyChanged()
		case <-p.closing:
			return
		}
	}
}

// Close stops every path (running OnDown) and fails publishes in flight with
// ErrClosed. It is idempotent.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		for _, pp := range p.paths {
			_ = pp.path.Close()
		}
		p.wg.Wait()
	})
	return nil
}

func (p *Publisher) closed() bool {
	select {
	case <-p.closing:
		return true
	default:
		return false
	}
}

// Prepare adapts a message to the path it is about to be published on (for
// example, sets reply_to to that connection's reply queue). An error skips
// that path.
type Prepare func(path int, msg *amqp.Publishing) error

// PublishAMQP publishes msg to exchange with routing key, mandatory and
// confirmed, on the first ready path, failing over as described in the
// package documentation. It returns once a broker confirmed the message.
func (p *Publisher) PublishAMQP(ctx context.Context, exchange, key string, msg amqp.Publishing) (PublishResult, error) {
	return p.PublishPrepared(ctx, exchange, key, msg, nil)
}

// PublishPrepared is PublishAMQP with a hook that adapts msg to each path
// before it is published there.
func (p *Publisher) PublishPrepared(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare) (PublishResult, error) {
	if p.closed() {
		return PublishResult{}, ErrClosed
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.PublishTimeout)
		defer cancel()
	}
	n := len(p.paths)
	// tried[i] holds the generation of path i that already failed this
	// publish, so a path is retried only after it reconnected.
	var triedBuf [8]uint64
	tried := triedBuf[:0]
	if n <= len(triedBuf) {
		tried = triedBuf[:n]
	} else {
		tried = make([]uint64, n)
	}
	var lastErr error
	returned := false
	attempts := 0
	for {
		changed := p.Changed()
		idx, anyReady := p.pick(tried)
		if idx < 0 {
			if returned {
				return PublishResult{Attempts: attempts}, ErrNoRoute
			}
			refused := errors.Is(lastErr, ErrNacked) || errors.Is(lastErr, ErrConfirmTimeout)
			if anyReady && refused {
				// Every broker that is up refused it (nack, confirm
				// timeout): waiting for a reconnect would not help.
				return PublishResult{Attempts: attempts}, lastErr
			}
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return PublishResult{Attempts: attempts}, p.unavailable(ctx, lastErr)
			case <-p.closing:
				return PublishResult{Attempts: attempts}, ErrClosed
			}
		}
		attempts++
		pp := p.paths[idx]
		res, gen, err := pp.publish(ctx, exchange, key, msg, prepare)
		if err == nil {
			res.Attempts = attempts
			if !p.cfg.PreferPrimary {
				p.mu.Lock()
				p.sticky = idx
				p.mu.Unlock()
			}
			return res, nil
		}
		if ctx.Err() != nil && !errors.Is(err, ErrNoRoute) {
			return PublishResult{Attempts: attempts}, p.unavailable(ctx, err)
		}
		switch {
		case errors.Is(err, ErrClosed):
			return PublishResult{Attempts: attempts}, err
		case errors.Is(err, ErrNoRoute):
			returned = true
		case errors.Is(err, errNotReady), errors.Is(err, errPrepare):
			// The path went down between pick and publish: not an attempt.
			attempts--
		}
		p.logger.Debug("Publish moves to next broker", watermill.LogFields{"broker": pp.broker, "err": err})
		lastErr = err
		tried[idx] = gen
	}
}

// PublishOnPath publishes msg on path i only, without failover.
func (p *Publisher) PublishOnPath(ctx context.Context, i int, exchange, key string, msg amqp.Publishing, prepare Prepare) (PublishResult, error) {
	if p.closed() {
		return PublishResult{}, ErrClosed
	}
	if i < 0 || i >= len(p.paths) {
		return PublishResult{}, fmt.Errorf("failover: no path %d", i)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.PublishTimeout)
		defer cancel()
	}
	pp := p.paths[i]
	res, _, err := pp.publish(ctx, exchange, key, msg, prepare)
	// A path still making its first connection (a sender just built) is
	// waited for within ctx; one that has failed is reported at once.
	for errors.Is(err, errNotReady) && pp.path.Err() == nil {
		select {
		case <-pp.path.Changed():
		case <-time.After(10 * time.Millisecond): // OnUp's channel may lag the path's state
		case <-ctx.Done():
			return res, p.unavailable(ctx, err)
		}
		res, _, err = pp.publish(ctx, exchange, key, msg, prepare)
	}
	if err != nil {
		if errors.Is(err, errNotReady) {
			return res, fmt.Errorf("%w: %s: %w", ErrUnavailable, pp.broker, err)
		}
		return res, err
	}
	res.Attempts = 1
	return res, nil
}

func (p *Publisher) unavailable(ctx context.Context, lastErr error) error {
	if lastErr != nil {
		return fmt.Errorf("%w: %w (last failure: %w)", ErrUnavailable, context.Cause(ctx), lastErr)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
}

// pick returns the path to try next, -1 when no untried path is ready;
// anyReady reports whether some path is ready at all.
func (p *Publisher) pick(tried []uint64) (idx int, anyReady bool) {
	start := 0
	if !p.cfg.PreferPrimary {
		p.mu.Lock()
		start = p.sticky
		p.mu.Unlock()
	}
	n := len(p.paths)
	for k := 0; k < n; k++ {
		i := (start + k) % n
		pp := p.paths[i]
		gen, ok := pp.readyGen()
		if !ok {
			continue
		}
		if tried[i] != gen {
			return i, true
		}
		anyReady = true
	}
	return -1, anyReady
}
