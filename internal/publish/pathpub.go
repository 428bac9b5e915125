package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/go-servicebus/servicebus/internal/timerpool"
	"github.com/go-servicebus/servicebus/pkg/broker"
	amqp "github.com/rabbitmq/amqp091-go"
)

var (
	errNotReady = errors.New("failover: path not ready")
	errPrepare  = errors.New("failover: message not prepared for path")
)

// pathPub is the publishing side of one path: its confirm-mode channel and
// the publishes waiting for their confirms on it, replaced at every reconnect.
type pathPub struct {
	pub    *Publisher
	idx    int
	path   *broker.Path
	broker string // path.Endpoint().String(), parsed once

	mu  sync.Mutex
	cur *pubChannel // nil while down
	gen uint64      // generation of cur, counts connects from 1
}

// attempt is the outcome of one publish on one path.
type attempt struct {
	res Result
	gen uint64 // the path generation tried
	// written: the message went out on the socket (or into its backlog),
	// so the broker may have it even when err is set, unless err says
	// otherwise (ErrNoRoute, ErrNacked).
	written bool
	err     error
}

var msgIDSeq atomic.Uint64

func (pp *pathPub) onUp(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open publishing channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	// Buffered so the connection's reader never waits on us: amqp091-go
	// drops a notification its listener does not take within 5 s.
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 4096))
	returns := ch.NotifyReturn(make(chan amqp.Return, 1024))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if pp.pub.cfg.OnUp != nil {
		if err := pp.pub.cfg.OnUp(pp.idx, conn, ch); err != nil {
			return err
		}
	}
	pp.mu.Lock()
	pp.gen++
	pc := newPubChannel(pp.gen, conn, ch)
	pp.cur = pc
	pp.mu.Unlock()
	pp.pub.wg.Add(1)
	go pp.confirmLoop(pc, confirms, returns, chClosed)
	return nil
}

func (pp *pathPub) onDown(err error) {
	pp.mu.Lock()
	pc := pp.cur
	pp.cur = nil
	pp.mu.Unlock()
	if pc != nil {
		pc.fail(fmt.Errorf("%w: %w", ErrPathLost, err))
	}
	if pp.pub.cfg.OnDown != nil {
		pp.pub.cfg.OnDown(pp.idx, err)
	}
}

func (pp *pathPub) readyGen() (uint64, bool) {
	pp.mu.Lock()
	cur, gen := pp.cur, pp.gen
	pp.mu.Unlock()
	if cur == nil || pp.path.Blocked() {
		return 0, false
	}
	return gen, true
}

func (pp *pathPub) ready() bool {
	_, ok := pp.readyGen()
	return ok
}

// publish sends msg on this path and waits for its confirm.
func (pp *pathPub) publish(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare) attempt {
	pp.mu.Lock()
	pc := pp.cur
	pp.mu.Unlock()
	if pc == nil {
		return attempt{err: errNotReady}
	}
	a := attempt{gen: pc.gen}
	if prepare != nil {
		var err error
		if msg, err = prepare(pp.idx, pc.conn, msg); err != nil {
			a.err = fmt.Errorf("%w: %w", errPrepare, err)
			return a
		}
	}
	if msg.MessageId == "" {
		msg.MessageId = "sb-" + strconv.FormatUint(msgIDSeq.Add(1), 36)
	}
	pd := &pending{msgID: msg.MessageId, done: make(chan struct{})}
	if err := pp.send(ctx, pc, pd, exchange, key, msg); err != nil {
		a.err = err
		return a
	}
	a.written = true

	// Pooled: a timer of its own cost three heap objects a publish.
	timer := timerpool.Get(pp.pub.cfg.ConfirmTimeout)
	defer timerpool.Put(timer)
	changed := pp.path.Changed()
	for {
		select {
		case <-pd.done:
			if pd.err != nil {
				a.err = fmt.Errorf("%w (%s)", pd.err, pp.broker)
				return a
			}
			a.res = Result{Path: pp.idx, Endpoint: pp.broker, DeliveryTag: pd.tag}
			return a
		case <-changed:
			// RabbitMQ announces a resource alarm to a connection once it
			// publishes and then stops reading it: leave at once instead
			// of after the confirm timeout.
			if pp.path.Blocked() {
				a.err = fmt.Errorf("%w: %s", ErrBlocked, pp.broker)
				return a
			}
			changed = pp.path.Changed()
		case <-timer.C:
			a.err = fmt.Errorf("%w after %s on %s", ErrConfirmTimeout, pp.pub.cfg.ConfirmTimeout, pp.broker)
			if pp.path.Blocked() {
				a.err = fmt.Errorf("%w: %w", ErrBlocked, a.err)
				return a
			}
			pp.pub.logger.Error("Publish confirm timed out; reconnecting", a.err, nil)
			pp.killIfCurrent(pc, a.err)
			return a
		case <-ctx.Done():
			a.err = ctx.Err()
			return a
		case <-pp.pub.closing:
			a.err = ErrClosed
			return a
		}
	}
}

// send claims pd's message id on the channel and publishes msg; an error
// means nothing was sent. A socket that stops draining cannot hold it
// (stallconn.go), so it runs on the caller's goroutine.
func (pp *pathPub) send(ctx context.Context, pc *pubChannel, pd *pending, exchange, key string, msg amqp.Publishing) error {
	if err := broker.CheckSize(pc.conn, &msg); err != nil {
		return err
	}
	for {
		err := pc.claim(pd)
		if err == nil {
			break
		}
		var same sameIDInFlight
		if !errors.As(err, &same) {
			return err
		}
		select {
		case <-same.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		pc.unclaim(pd)
		return err
	}
	if pp.path.Blocked() {
		pc.unclaim(pd)
		return fmt.Errorf("%w: %s", ErrBlocked, pp.broker)
	}
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil || dc == nil {
		pc.unclaim(pd)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			err = errors.New("channel not in confirm mode")
		}
		return fmt.Errorf("%w: %w", ErrPathLost, err)
	}
	pc.sent(pd, dc)
	return nil
}

func (pp *pathPub) killIfCurrent(pc *pubChannel, reason error) {
	pp.mu.Lock()
	cur := pp.cur
	pp.mu.Unlock()
	// A dying connection closes its channels too; that is the path's own
	// business, and a Kill now would hit the next connection instead.
	if cur == pc && !pc.conn.IsClosed() {
		pp.path.KillConn(pc.conn, reason)
	}
}
