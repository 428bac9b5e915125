package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// WrapperPublishError is the error of a Wrapper.Publish call that did not
// publish all its messages.
type WrapperPublishError struct {
	// Published messages, the first ones of the call: messages[:Published]
	// went out, messages[Published:] did not (but see ErrAttemptTimeout).
	Published int
	// Total is the number of messages of the call.
	Total int
	// UUID is the UUID of messages[Published], the message that failed.
	UUID string
	// Err says why: it wraps ErrNotPublished and every publisher's failure,
	// the message context's error, or ErrClosed.
	Err error
}

func (e *WrapperPublishError) Error() string {
	rest := ""
	if n := e.Total - e.Published - 1; n > 0 {
		rest = fmt.Sprintf(", nor the %d after it", n)
	}
	return fmt.Sprintf("failover: message %s (%d of %d) not published%s: %v", e.UUID, e.Published+1, e.Total, rest, e.Err)
}

func (e *WrapperPublishError) Unwrap() error { return e.Err }

// Wrapper is a Watermill message.Publisher over other publishers — one
// watermill-amqp publisher per broker, say. It publishes each message on the
// first publisher that takes it, in config order, and skips a publisher that
// failed for a backoff before trying it again.
//
// # One message
//
// The publishers are tried in order. A publisher that failed is skipped
// until its backoff has passed (Backoff.Delay of its failures in a row; a
// success resets it); so is one whose earlier publish hung and has not
// returned yet. When no publisher that was tried took the message, the ones
// skipped for their backoff are tried anyway, in order: the backoff spares
// healthy traffic the cost of a dead publisher, it does not refuse a
// message that nobody else takes. Only when none takes it does Publish fail,
// with an error that wraps ErrNotPublished and names every publisher's
// failure (errors.Join, in config order).
//
// Each attempt gets a copy of the message whose context is the message's
// own bounded by AttemptTimeout, and runs on a goroutine of its own, so a
// publisher that ignores contexts (watermill-amqp waits for a confirm
// without one) cannot hold the caller: when the attempt's time is up the
// publisher counts as failed and the message moves on; the abandoned
// publish is left to return on its own and may still deliver the message
// (at least once, not exactly once). When the message's context is done,
// Publish stops at once and returns an error wrapping the context's error;
// that is the caller's doing, so the publisher is not counted as failed.
//
// # Several messages
//
// Publish(topic, m1, m2, ...) publishes the messages one at a time, in
// order, each with its own failover; a wrapped publisher is always given
// one message, so a failure never leaves it unknown which messages of a
// batch went out. At the first message that no publisher takes Publish
// returns a *WrapperPublishError: the messages before it were published,
// that one and the ones after it were not (as Watermill's Publisher
// contract has it). Messages of one call may go out on different
// publishers when one fails in between, so their order across brokers is
// not kept.
//
// # Concurrency
//
// Publish is safe for concurrent use, with no lock held while a wrapped
// publisher works; the wrapped publishers must be safe for concurrent use
// too (watermill-amqp's are). Failures of concurrent publishes that started
// before a publisher's latest failure count as that one failure, so a burst
// of in-flight publishes dying with one broker does not drive its backoff
// to the maximum.
//
// # Close and ownership
//
// Close is idempotent and bounded by CloseTimeout. It refuses new Publish
// calls (ErrClosed), lets calls in flight finish the message they are on
// (failover included) without starting their next one, and waits for them.
// Ownership is explicit, as in watermill-amqp's NewPublisher (owns its
// connection) and NewPublisherWithConnection (borrows it): with
// WrapperConfig.ClosePublishers the Wrapper owns the publishers, closes
// each, and then waits for publishes abandoned on hung publishers to
// return; without it the caller owns them, closes them after the Wrapper,
// and abandoned publishes end when it does.
type Wrapper struct {
	cfg  WrapperConfig
	pubs []*wrappedPublisher

	mu      sync.Mutex // guards closed and the start of a call
	closed  bool
	closing chan struct{}

	calls    wrapperWork // Publish calls in flight
	attempts wrapperWork // attempt goroutines, abandoned ones included

	closeOnce sync.Once
	closeErr  error
}

var _ message.Publisher = (*Wrapper)(nil)

// NewWrapper builds a Wrapper over config.Publishers. It sets the defaults
// of config, then validates it. The logger reports publishers that start
// failing and that recover; a nil logger logs nothing.
func NewWrapper(config WrapperConfig, logger watermill.LoggerAdapter) (*Wrapper, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, fmt.Errorf("failover: invalid config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	w := &Wrapper{cfg: config, closing: make(chan struct{})}
	w.calls.init()
	w.attempts.init()
	for i, p := range config.Publishers {
		w.pubs = append(w.pubs, &wrappedPublisher{pub: p, name: config.Names[i], logger: logger.With(watermill.LogFields{"publisher": config.Names[i]})})
	}
	return w, nil
}

// Publish publishes each message on the first publisher that takes it (see
// the type's documentation). A nil message is refused before any is
// published.
func (w *Wrapper) Publish(topic string, messages ...*message.Message) error {
	for i, m := range messages {
		if m == nil {
			return fmt.Errorf("failover: Wrapper.Publish: message %d of %d is nil; none was published", i+1, len(messages))
		}
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("failover: Wrapper.Publish: %w", ErrClosed)
	}
	w.calls.add()
	w.mu.Unlock()
	defer w.calls.done()

	for i, m := range messages {
		var err error
		select {
		case <-w.closing:
			err = ErrClosed
		default:
			err = w.publish(topic, m)
		}
		if err != nil {
			return &WrapperPublishError{Published: i, Total: len(messages), UUID: m.UUID, Err: err}
		}
	}
	return nil
}

// publish publishes one message with failover.
func (w *Wrapper) publish(topic string, msg *message.Message) error {
	ctx := msg.Context()
	fails := make([]error, len(w.pubs))
	var later []int // skipped for their backoff: tried last
	if ctx.Err() != nil {
		return w.notPublished(ctx, fails)
	}
	for i, p := range w.pubs {
		err, backoff := p.skip(time.Now())
		if err != nil {
			fails[i] = err
			if backoff {
				later = append(later, i)
			}
			continue
		}
		if fails[i] = w.attempt(ctx, p, topic, msg); fails[i] == nil {
			return nil
		}
		if ctx.Err() != nil {
			return w.notPublished(ctx, fails)
		}
	}
	for _, i := range later {
		if fails[i] = w.attempt(ctx, w.pubs[i], topic, msg); fails[i] == nil {
			return nil
		}
		if ctx.Err() != nil {
			return w.notPublished(ctx, fails)
		}
	}
	return w.notPublished(ctx, fails)
}

// notPublished joins the failures of every publisher, in config order.
func (w *Wrapper) notPublished(ctx context.Context, fails []error) error {
	errs := make([]error, 0, len(fails))
	for i, err := range fails {
		if err == nil {
			err = errors.New("not tried")
		}
		errs = append(errs, fmt.Errorf("publisher %s: %w", w.pubs[i].name, err))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: the message's context is done (%w): %w", ErrNotPublished, context.Cause(ctx), errors.Join(errs...))
	}
	return fmt.Errorf("%w: %w", ErrNotPublished, errors.Join(errs...))
}

// attempt publishes msg on p alone, within AttemptTimeout and msg's
// context, and records the outcome on p.
func (w *Wrapper) attempt(ctx context.Context, p *wrappedPublisher, topic string, msg *message.Message) error {
	actx, cancel := context.WithTimeout(ctx, w.cfg.AttemptTimeout)
	defer cancel()
	// A copy: the abandoned publish of a hung publisher may still read its
	// message while the next publisher has it.
	m := msg.Copy()
	m.SetContext(actx)
	a := &wrapperAttempt{done: make(chan error, 1)}
	start := time.Now()
	w.attempts.add()
	go func() {
		defer w.attempts.done()
		err := publishRecovered(p.pub, topic, m)
		if p.finish(a) {
			a.done <- err
			return
		}
		p.lateResult(m.UUID, err)
	}()
	var err error
	select {
	case err = <-a.done:
	case <-actx.Done():
		timedOut := ctx.Err() == nil // the attempt's own timeout, not the caller's context
		if p.abandon(a, timedOut) {
			if !timedOut {
				return fmt.Errorf("abandoned: %w", context.Cause(ctx))
			}
			err = fmt.Errorf("%w: no answer within %s (it may still publish the message)", ErrAttemptTimeout, w.cfg.AttemptTimeout)
			p.record(start, err, w.cfg.Backoff)
			return err
		}
		err = <-a.done // it returned while we gave up on it: take its answer
	}
	if err != nil && ctx.Err() != nil {
		return err // the caller's context ended it: not the publisher's failure
	}
	p.record(start, err, w.cfg.Backoff)
	return err
}

// publishRecovered turns a panic of a wrapped publisher into an error: it
// runs on a goroutine of ours, where a panic would end the process.
func publishRecovered(p message.Publisher, topic string, m *message.Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("publisher panicked: %v", r)
		}
	}()
	return p.Publish(topic, m)
}

// Close stops the Wrapper (see the type's documentation). It is idempotent:
// every call returns the first one's result.
func (w *Wrapper) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

func (w *Wrapper) close() error {
	w.mu.Lock()
	w.closed = true
	close(w.closing)
	w.mu.Unlock()

	deadline := time.Now().Add(w.cfg.CloseTimeout)
	var errs []error
	if !waitClosed(w.calls.idle(), deadline) {
		errs = append(errs, fmt.Errorf("failover: Wrapper.Close: publishes still in flight after %s", w.cfg.CloseTimeout))
	}
	if !w.cfg.ClosePublishers {
		return errors.Join(errs...)
	}
	for _, p := range w.pubs {
		if err := p.pub.Close(); err != nil {
			errs = append(errs, fmt.Errorf("failover: Wrapper.Close: publisher %s: %w", p.name, err))
		}
	}
	if !waitClosed(w.attempts.idle(), deadline) {
		errs = append(errs, fmt.Errorf("failover: Wrapper.Close: publishes on hung publishers had not returned %s after Close began, although their publishers were closed", w.cfg.CloseTimeout))
	}
	return errors.Join(errs...)
}

// waitClosed waits for ch to be closed until deadline, and reports whether
// it was.
func waitClosed(ch <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
}

// wrapperWork counts work in flight. Unlike a sync.WaitGroup it can be waited
// for with a deadline and no goroutine that outlives the wait, and work may
// be added while someone waits.
type wrapperWork struct {
	mu    sync.Mutex
	n     int
	zeroC chan struct{} // closed while n == 0
}

func (p *wrapperWork) init() {
	p.zeroC = make(chan struct{})
	close(p.zeroC)
}

func (p *wrapperWork) add() {
	p.mu.Lock()
	if p.n == 0 {
		p.zeroC = make(chan struct{})
	}
	p.n++
	p.mu.Unlock()
}

func (p *wrapperWork) done() {
	p.mu.Lock()
	if p.n--; p.n == 0 {
		close(p.zeroC)
	}
	p.mu.Unlock()
}

// idle returns a channel that is closed once no work is in flight.
func (p *wrapperWork) idle() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.zeroC
}
