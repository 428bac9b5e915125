package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/go-servicebus/servicebus/pkg/broker"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Result says where a publish landed.
type Result struct {
	Path        int    // index of the path in config order
	Endpoint    string // that broker, without credentials
	DeliveryTag uint64 // the confirm's delivery tag on that path's channel
	Attempts    int    // paths tried, 1 when the first took it
}

// Publisher is the publishing engine behind failover.Publisher and
// rpc.Sender: one broker.Path per broker, publishes pipelined with confirms and
// mandatory on the first ready path, failing over on a nack, a return, a
// dead connection or a confirm timeout. failover.Publisher's documentation
// tells the life of one publish (the outcome table of docs/reliability.md)
// and why it owns its amqp091-go channels. Besides what failover.Publisher
// offers, it gives pkg/rpc the per-path hooks (Config.OnUp, Config.OnDown),
// Prepare, PublishPrepared and PublishOnPath.
type Publisher struct {
	cfg    Config
	logger watermill.LoggerAdapter
	paths  []*pathPub

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when any path changes state
	sticky  int           // path of the last success (PreferPrimary false)

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New starts one broker.Path per endpoint and returns at once; paths
// connect in the background. A nil logger logs nothing.
func New(cfg Config, logger watermill.LoggerAdapter) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("failover: invalid config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	p := &Publisher{
		cfg:     cfg,
		logger:  logger,
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
	for i, ep := range cfg.Endpoints {
		pp := &pathPub{pub: p, idx: i, broker: ep.String()}
		var onProbe func(time.Duration, error)
		if obs := cfg.Observer; obs != nil {
			onProbe = func(took time.Duration, err error) { obs.Probed(pp.broker, took, err) }
		}
		pp.path = broker.NewPath(broker.PathConfig{
			Endpoint:      ep,
			Backoff:       cfg.Backoff,
			ProbeInterval: cfg.ProbeInterval,
			ProbeTimeout:  cfg.ProbeTimeout,
			OnUp:          pp.onUp,
			OnDown:        pp.onDown,
			OnProbe:       onProbe,
		}, logger)
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
func (p *Publisher) Path(i int) *broker.Path { return p.paths[i].path }

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
func (p *Publisher) forwardChanges(path *broker.Path) {
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
// ErrClosed. It is idempotent. The paths close at once, each cutting short
// a dial or set-up under way (broker.Path.Close).
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		close(p.closing)
		var paths sync.WaitGroup
		for _, pp := range p.paths {
			paths.Go(func() { _ = pp.path.Close() })
		}
		paths.Wait()
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
// connection it goes out on; it returns the message to publish there. An
// error skips that path. The message goes in and out by value: a pointer to
// it would move every publish's message to the heap.
type Prepare func(path int, conn *amqp.Connection, msg amqp.Publishing) (amqp.Publishing, error)

// Options change one publish.
type Options struct {
	// Prepare adapts the message to each path before it goes out there.
	Prepare Prepare
	// Path >= 0 publishes on that path only, without failover (a nack is
	// still retried there). A path still making its first connection is
	// waited for within ctx; one that is down after a failure is reported
	// at once. -1 (or any negative) means any path.
	Path int
	// AtMostOnce: an attempt that went out and whose fate is unknown (its
	// connection lost, no confirm in time) is not sent again elsewhere; the
	// publish fails at once with ErrMaybeDelivered. For calls, which must
	// not run twice unless the caller asks.
	AtMostOnce bool
}

// PublishAMQP publishes msg to exchange with routing key, mandatory and
// confirmed, on the first ready path, failing over as failover.Publisher's
// documentation tells. It returns once a broker confirmed the message.
func (p *Publisher) PublishAMQP(ctx context.Context, exchange, key string, msg amqp.Publishing) (Result, error) {
	return p.publish(ctx, exchange, key, msg, Options{Path: -1})
}

// PublishWith is PublishAMQP with options.
func (p *Publisher) PublishWith(ctx context.Context, exchange, key string, msg amqp.Publishing, opts Options) (Result, error) {
	if opts.Path >= len(p.paths) {
		return Result{}, fmt.Errorf("failover: no path %d", opts.Path)
	}
	if opts.Path < 0 {
		opts.Path = -1
	}
	return p.publish(ctx, exchange, key, msg, opts)
}

// PublishPrepared is PublishWith with a Prepare hook and any path.
func (p *Publisher) PublishPrepared(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare) (Result, error) {
	return p.PublishWith(ctx, exchange, key, msg, Options{Prepare: prepare, Path: -1})
}

// PublishOnPath is PublishWith on path i only.
func (p *Publisher) PublishOnPath(ctx context.Context, i int, exchange, key string, msg amqp.Publishing, prepare Prepare) (Result, error) {
	if i < 0 {
		return Result{}, fmt.Errorf("failover: no path %d", i)
	}
	return p.PublishWith(ctx, exchange, key, msg, Options{Prepare: prepare, Path: i})
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

// publish is the failover loop.
func (p *Publisher) publish(ctx context.Context, exchange, key string, msg amqp.Publishing, opts Options) (Result, error) {
	prepare, only := opts.Prepare, opts.Path
	if p.closed() {
		return Result{}, ErrClosed
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
	var tried []uint64
	var nackedOn []bool
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
			if refused := p.refused(only); refused != nil {
				// Every broker refuses in a way that waiting will not
				// heal: say so now, not at the deadline.
				if o == (outcomes{}) {
					return Result{Attempts: attempts}, refused
				}
				return Result{Attempts: attempts}, p.failedAt(refused, o, only)
			}
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
						return Result{Attempts: attempts}, p.failedAt(context.DeadlineExceeded, o, only)
					}
				}
				backoff = time.NewTimer(delay)
				wait = backoff.C
				retries++
			case o.returned && o.uncertain == nil:
				return Result{Attempts: attempts}, ErrNoRoute
			case only >= 0 && attempts == 0 && p.paths[only].path.Err() != nil:
				return Result{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, p.paths[only].broker, p.paths[only].path.Err())
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
				err = p.failed(ctx, o, only)
			case <-p.closing:
				err = ErrClosed
			}
			if backoff != nil {
				backoff.Stop()
			}
			if err != nil {
				return Result{Attempts: attempts}, err
			}
			continue
		}
		attempts++
		pp := p.paths[idx]
		var start time.Time
		if p.cfg.Observer != nil {
			start = time.Now()
		}
		a := pp.publish(ctx, exchange, key, msg, prepare)
		if p.cfg.Observer != nil && !errors.Is(a.err, errNotReady) && !errors.Is(a.err, ErrClosed) {
			p.cfg.Observer.Attempted(pp.broker, outcomeOf(a.err), time.Since(start))
		}
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
			return Result{Attempts: attempts}, ErrClosed
		case errors.Is(a.err, broker.ErrTooLarge):
			return Result{Attempts: attempts}, a.err
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
			if opts.AtMostOnce {
				return Result{Attempts: attempts}, fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrMaybeDelivered, a.err)
			}
		default:
			o.lastErr = a.err
		}
		if ctx.Err() != nil {
			return Result{Attempts: attempts}, p.failed(ctx, o, only)
		}
		p.logger.Debug("Publish moves on", watermill.LogFields{"broker": pp.broker, "err": a.err})
		tried[idx] = a.gen
	}
}

// failed is the error of a publish whose deadline passed: uncertain if any
// attempt may have delivered it, else why nothing was delivered.
func (p *Publisher) failed(ctx context.Context, o outcomes, only int) error {
	return p.failedAt(context.Cause(ctx), o, only)
}

func (p *Publisher) failedAt(cause error, o outcomes, only int) error {
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
	if down := p.downCauses(only); len(down) > 0 {
		// Nothing was tried: why each broker is down is the answer.
		return fmt.Errorf("%w: %w ("+strings.Repeat("; %w", len(down))[2:]+")", append([]any{ErrUnavailable, cause}, down...)...)
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
