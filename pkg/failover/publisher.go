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
	// ErrNoRoute means nothing was delivered: every broker tried returned
	// the mandatory publish (no queue is bound for its routing key; for a
	// call: no agent ever served that node there), and none may hold it. It
	// comes back as soon as the returns arrive.
	ErrNoRoute = errors.New("failover: no route (no queue bound for the routing key)")
	// ErrUnavailable means no broker confirmed the publish before its
	// deadline. It is retryable. Nothing was delivered unless the error
	// also matches ErrMaybeDelivered.
	ErrUnavailable = errors.New("failover: no broker available")
	// ErrClosed means the publisher was closed.
	ErrClosed = errors.New("failover: publisher closed")
	// ErrNacked means a broker refused a publish (basic.nack): a queue at its
	// length limit with reject-publish, a quorum queue without a leader. The
	// publisher tries the next path, and the refusing ones again after a
	// backoff (RetryBackoff), until the deadline; then the error matches
	// ErrUnavailable and ErrNacked. Nothing was stored.
	ErrNacked = errors.New("failover: publish nacked by broker")
	// ErrMaybeDelivered comes with ErrUnavailable when an attempt went out
	// and its outcome is unknown (no confirm by the deadline or the confirm
	// timeout, the connection lost or blocked before the confirm): a broker
	// may deliver the message, so a retry may make a duplicate.
	ErrMaybeDelivered = errors.New("failover: the message may have been delivered")
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
	// RetryBackoff paces new attempts of a publish that every ready broker
	// refused (nacked); zero means DefaultRetryBackoff.
	RetryBackoff Backoff
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
	if c.RetryBackoff == (Backoff{}) {
		c.RetryBackoff = DefaultRetryBackoff()
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
// Then (the table of docs/reliability.md, "Outcomes"):
//   - ack: done. The ack/nack flag is taken from the publish's own
//     DeferredConfirmation, never from the confirm listener (confirms.go).
//   - return: the next ready path; ErrNoRoute at once when none is left and
//     no attempt may have delivered it.
//   - nack: the next ready path; when every ready path refused, the
//     refusing ones again after RetryBackoff, until the deadline.
//   - connection or channel lost before the confirm: the next ready path, or
//     a wait for one to come back.
//   - the broker blocks the connection (connection.blocked, which RabbitMQ
//     sends only to a connection that publishes): publishes waiting there
//     move on at once (ErrBlocked) and the path is skipped until unblocked.
//     It is not killed: a new connection would be blocked again.
//   - no confirm within ConfirmTimeout: the path is killed (it reconnects)
//     and the publish moves on.
//   - no ready path: wait for a path to change state until the deadline
//     (the ctx's, else PublishTimeout), then ErrUnavailable, with
//     ErrMaybeDelivered when an attempt went out and was not settled. A
//     publish never hangs, and no socket write holds it (stallconn.go).
//
// Two publishes with the same message id are not in flight on one channel
// at once (the second waits for the first's confirm): a basic.return names
// its message by id alone.
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
		pp := &pathPub{pub: p, idx: i, broker: ep.String()}
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
// example, sets reply_to to that connection's reply queue); conn is the
// connection it goes out on. An error skips that path.
type Prepare func(path int, conn *amqp.Connection, msg *amqp.Publishing) error

// PublishAMQP publishes msg to exchange with routing key, mandatory and
// confirmed, on the first ready path, failing over as described in the
// package documentation. It returns once a broker confirmed the message.
func (p *Publisher) PublishAMQP(ctx context.Context, exchange, key string, msg amqp.Publishing) (PublishResult, error) {
	return p.publish(ctx, exchange, key, msg, nil, -1)
}

// PublishPrepared is PublishAMQP with a hook that adapts msg to each path
// before it is published there.
func (p *Publisher) PublishPrepared(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare) (PublishResult, error) {
	return p.publish(ctx, exchange, key, msg, prepare, -1)
}

// PublishOnPath publishes msg on path i only, without failover; a nack is
// retried there as in PublishAMQP. A path still making its first connection
// is waited for within ctx; one that is down after a failure is reported at
// once.
func (p *Publisher) PublishOnPath(ctx context.Context, i int, exchange, key string, msg amqp.Publishing, prepare Prepare) (PublishResult, error) {
	if i < 0 || i >= len(p.paths) {
		return PublishResult{}, fmt.Errorf("failover: no path %d", i)
	}
	return p.publish(ctx, exchange, key, msg, prepare, i)
}

// minRetryDelay: a refused publish with less than twice this left before
// its deadline is not tried again.
const minRetryDelay = 5 * time.Millisecond

// outcomes gathers what the attempts of one publish learnt, to choose the
// error when none succeeds (docs/reliability.md, "Outcomes").
type outcomes struct {
	returned  bool  // a broker returned it: no queue there
	nacked    error // a broker refused it; retried after a backoff
	uncertain error // it went out and its fate is unknown: it may be delivered
	lastErr   error // the last failure that sent nothing
}

// publish is the failover loop; only >= 0 restricts it to that path.
func (p *Publisher) publish(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare, only int) (PublishResult, error) {
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
	// publish, so a path is retried only after it reconnected, or, when it
	// nacked, after a backoff (nackedOn).
	var triedBuf [8]uint64
	var nackBuf [8]bool
	tried, nackedOn := triedBuf[:0], nackBuf[:0]
	if n <= len(triedBuf) {
		tried, nackedOn = triedBuf[:n], nackBuf[:n]
	} else {
		tried, nackedOn = make([]uint64, n), make([]bool, n)
	}
	var o outcomes
	attempts, retries := 0, 0
	for {
		changed := p.Changed()
		idx := p.pick(tried, only)
		if idx < 0 {
			var backoff *time.Timer
			var wait <-chan time.Time
			switch {
			case o.nacked != nil:
				// A broker that is up refused it (a full queue, a quorum
				// queue electing its leader): try again after a backoff,
				// unless the deadline comes first.
				delay := p.cfg.RetryBackoff.Delay(retries)
				if deadline, _ := ctx.Deadline(); time.Until(deadline) < 2*delay {
					// Near the deadline: one more try halfway there, so
					// the last attempt is not still out when it passes.
					if delay = time.Until(deadline) / 2; delay < minRetryDelay {
						return PublishResult{Attempts: attempts}, p.failedAt(context.DeadlineExceeded, o)
					}
				}
				backoff = time.NewTimer(delay)
				wait = backoff.C
				retries++
			case o.returned && o.uncertain == nil:
				return PublishResult{Attempts: attempts}, ErrNoRoute
			case only >= 0 && attempts == 0 && p.paths[only].path.Err() != nil:
				return PublishResult{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, p.paths[only].broker, p.paths[only].path.Err())
			}
			var err error
			select {
			case <-wait:
				for i, nacked := range nackedOn {
					if nacked {
						tried[i], nackedOn[i] = 0, false
					}
				}
			case <-changed:
			case <-ctx.Done():
				err = p.failed(ctx, o)
			case <-p.closing:
				err = ErrClosed
			}
			if backoff != nil {
				backoff.Stop()
			}
			if err != nil {
				return PublishResult{Attempts: attempts}, err
			}
			continue
		}
		attempts++
		pp := p.paths[idx]
		a := pp.publish(ctx, exchange, key, msg, prepare)
		if a.err == nil {
			a.res.Attempts = attempts
			if !p.cfg.PreferPrimary {
				p.mu.Lock()
				p.sticky = idx
				p.mu.Unlock()
			}
			return a.res, nil
		}
		switch {
		case errors.Is(a.err, ErrClosed):
			return PublishResult{Attempts: attempts}, ErrClosed
		case errors.Is(a.err, ErrTooLarge):
			return PublishResult{Attempts: attempts}, a.err
		case errors.Is(a.err, ErrNoRoute):
			o.returned = true
		case errors.Is(a.err, ErrNacked):
			o.nacked = a.err
			nackedOn[idx] = true
		case errors.Is(a.err, errNotReady), errors.Is(a.err, errPrepare):
			// The path went down between pick and publish: not an attempt.
			attempts--
			o.lastErr = a.err
		case a.written:
			o.uncertain = a.err
		default:
			o.lastErr = a.err
		}
		if ctx.Err() != nil {
			return PublishResult{Attempts: attempts}, p.failed(ctx, o)
		}
		p.logger.Debug("Publish moves on", watermill.LogFields{"broker": pp.broker, "err": a.err})
		tried[idx] = a.gen
	}
}

// failed is the error of a publish whose deadline passed: uncertain if any
// attempt may have delivered it, else why nothing was delivered.
func (p *Publisher) failed(ctx context.Context, o outcomes) error {
	return p.failedAt(context.Cause(ctx), o)
}

func (p *Publisher) failedAt(cause error, o outcomes) error {
	switch {
	case o.uncertain != nil && o.nacked != nil:
		return fmt.Errorf("%w: %w: %w (%w; refused before: %w)", ErrUnavailable, ErrMaybeDelivered, cause, o.uncertain, o.nacked)
	case o.uncertain != nil:
		return fmt.Errorf("%w: %w: %w (%w)", ErrUnavailable, ErrMaybeDelivered, cause, o.uncertain)
	case o.nacked != nil:
		return fmt.Errorf("%w: %w (refused until then: %w)", ErrUnavailable, cause, o.nacked)
	case o.returned:
		return ErrNoRoute
	case o.lastErr != nil:
		return fmt.Errorf("%w: %w (last failure: %w)", ErrUnavailable, cause, o.lastErr)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// pick returns the path to try next, -1 when no untried path is ready;
// only >= 0 considers that path alone.
func (p *Publisher) pick(tried []uint64, only int) int {
	if only >= 0 {
		if gen, ok := p.paths[only].readyGen(); ok && tried[only] != gen {
			return only
		}
		return -1
	}
	start := 0
	if !p.cfg.PreferPrimary {
		p.mu.Lock()
		start = p.sticky
		p.mu.Unlock()
	}
	n := len(p.paths)
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if gen, ok := p.paths[i].readyGen(); ok && tried[i] != gen {
			return i
		}
	}
	return -1
}
