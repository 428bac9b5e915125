package failover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
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
	path   *Path
	broker string // path.Endpoint().String(), parsed once

	// turn serialises "take the next delivery tag, register, publish" so
	// the tag we register is the tag the broker confirms. It is a channel,
	// not a mutex, so that waiting for it honours the context.
	turn chan struct{}

	mu  sync.Mutex
	cur *pubChannel // nil while down
	gen uint64      // generation of cur, counts connects from 1
}

// pubChannel is one generation's publishing channel and its in-flight publishes.
type pubChannel struct {
	gen  uint64
	conn *amqp.Connection
	ch   *amqp.Channel

	mu      sync.Mutex
	byTag   map[uint64]*pending
	byMsgID map[string]*pending // for matching basic.return
	dead    error               // set once the channel is gone
}

// pending is one publish waiting for its confirm.
type pending struct {
	tag      uint64
	msgID    string
	sameID   *pending // next in flight with the same message id
	returned bool
	done     chan struct{}
	err      error // nil: acked and routed
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
	// Buffered so the connection's reader never waits on us; the confirm
	// loop drains returns before it looks at a confirm (see confirmLoop).
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1024))
	returns := ch.NotifyReturn(make(chan amqp.Return, 256))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if pp.pub.cfg.OnUp != nil {
		if err := pp.pub.cfg.OnUp(pp.idx, conn, ch); err != nil {
			return err
		}
	}
	pc := &pubChannel{conn: conn, ch: ch, byTag: make(map[uint64]*pending), byMsgID: make(map[string]*pending)}
	pp.mu.Lock()
	pp.gen++
	pc.gen = pp.gen
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

// publish sends msg on this path and waits for its confirm. It returns the
// generation it used, so the caller can skip this path until it reconnects.
func (pp *pathPub) publish(ctx context.Context, exchange, key string, msg amqp.Publishing, prepare Prepare) (PublishResult, uint64, error) {
	pp.mu.Lock()
	pc := pp.cur
	pp.mu.Unlock()
	if pc == nil {
		return PublishResult{}, 0, errNotReady
	}
	if prepare != nil {
		if err := prepare(pp.idx, &msg); err != nil {
			return PublishResult{}, pc.gen, fmt.Errorf("%w: %w", errPrepare, err)
		}
	}
	if msg.MessageId == "" {
		msg.MessageId = "sb-" + strconv.FormatUint(msgIDSeq.Add(1), 36)
	}
	pd := &pending{msgID: msg.MessageId, done: make(chan struct{})}

	if err := pp.write(ctx, pc, pd, exchange, key, msg); err != nil {
		return PublishResult{}, pc.gen, err
	}

	timer := time.NewTimer(pp.pub.cfg.ConfirmTimeout)
	defer timer.Stop()
	changed := pp.path.Changed()
	for {
		select {
		case <-pd.done:
			if pd.err != nil {
				return PublishResult{}, pc.gen, pd.err
			}
			return PublishResult{Path: pp.idx, Endpoint: pp.broker, DeliveryTag: pd.tag}, pc.gen, nil
		case <-changed:
			// RabbitMQ announces a resource alarm to a connection once it
			// publishes and then stops reading it: leave at once instead
			// of after the confirm timeout.
			if pp.path.Blocked() {
				return PublishResult{}, pc.gen, fmt.Errorf("%w: %s", ErrBlocked, pp.broker)
			}
			changed = pp.path.Changed()
		case <-timer.C:
			err := fmt.Errorf("%w after %s on %s", ErrConfirmTimeout, pp.pub.cfg.ConfirmTimeout, pp.broker)
			if pp.path.Blocked() {
				return PublishResult{}, pc.gen, fmt.Errorf("%w: %w", ErrBlocked, err)
			}
			pp.pub.logger.Error("Publish confirm timed out; reconnecting", err, nil)
			pp.killIfCurrent(pc, err)
			return PublishResult{}, pc.gen, err
		case <-ctx.Done():
			return PublishResult{}, pc.gen, ctx.Err()
		case <-pp.pub.closing:
			return PublishResult{}, pc.gen, ErrClosed
		}
	}
}

// write registers pd and publishes msg. A socket write can block for as
// long as the broker does not read (a resource alarm, flow control), and
// amqp091-go does not interrupt it; so the write runs on a goroutine of its
// own and the caller leaves when ctx ends. A write whose turn comes after
// ctx ended is skipped; one already under way completes (or fails with the
// connection) on its own, and its confirm then finds nobody waiting.
// inlineWriteMax is the largest body written on the caller's goroutine: a
// small frame fits the socket buffer even when the broker has just stopped
// reading, so the write cannot outlast the caller's deadline.
const inlineWriteMax = 16 << 10

func (pp *pathPub) write(ctx context.Context, pc *pubChannel, pd *pending, exchange, key string, msg amqp.Publishing) error {
	if len(msg.Body) <= inlineWriteMax && !pp.path.Blocked() {
		changed := pp.path.Changed()
		for {
			select {
			case pp.turn <- struct{}{}:
				err := pp.writeTurn(ctx, pc, pd, exchange, key, msg)
				<-pp.turn
				return err
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
				if pp.path.Blocked() {
					return fmt.Errorf("%w: %s", ErrBlocked, pp.broker)
				}
				changed = pp.path.Changed()
			}
		}
	}
	// A large body may stall in the socket write while the broker blocks
	// publishers: write on a goroutine of its own so the caller leaves by
	// its deadline. cancel drops a write that has not had its turn yet.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		select {
		case pp.turn <- struct{}{}:
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		defer func() { <-pp.turn }()
		done <- pp.writeTurn(ctx, pc, pd, exchange, key, msg)
	}()
	changed := pp.path.Changed()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			if pp.path.Blocked() {
				return fmt.Errorf("%w: %s", ErrBlocked, pp.broker)
			}
			changed = pp.path.Changed()
		}
	}
}

// writeTurn publishes msg; the caller holds the turn.
func (pp *pathPub) writeTurn(ctx context.Context, pc *pubChannel, pd *pending, exchange, key string, msg amqp.Publishing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pd.tag = pc.ch.GetNextPublishSeqNo()
	if err := pc.register(pd); err != nil {
		return err
	}
	dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		pc.unregister(pd)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrPathLost, err)
	}
	if dc != nil && dc.DeliveryTag != pd.tag {
		// Only possible if someone published on our channel behind our back.
		pp.pub.logger.Error("Delivery tag mismatch", nil, watermill.LogFields{"want": pd.tag, "got": dc.DeliveryTag})
	}
	return nil
}

func (pc *pubChannel) register(pd *pending) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead != nil {
		return pc.dead
	}
	pc.byTag[pd.tag] = pd
	if first, ok := pc.byMsgID[pd.msgID]; ok {
		for first.sameID != nil {
			first = first.sameID
		}
		first.sameID = pd
	} else {
		pc.byMsgID[pd.msgID] = pd
	}
	return nil
}

// unregister removes pd; pc.mu must not be held.
func (pc *pubChannel) unregister(pd *pending) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.removeLocked(pd)
}

func (pc *pubChannel) removeLocked(pd *pending) {
	delete(pc.byTag, pd.tag)
	first, ok := pc.byMsgID[pd.msgID]
	if !ok {
		return
	}
	if first == pd {
		if pd.sameID != nil {
			pc.byMsgID[pd.msgID] = pd.sameID
		} else {
			delete(pc.byMsgID, pd.msgID)
		}
		return
	}
	for prev := first; prev.sameID != nil; prev = prev.sameID {
		if prev.sameID == pd {
			prev.sameID = pd.sameID
			return
		}
	}
}

// fail ends every publish in flight on this channel with err.
func (pc *pubChannel) fail(err error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead == nil {
		pc.dead = err
	}
	for tag, pd := range pc.byTag {
		pd.err = err
		close(pd.done)
		delete(pc.byTag, tag)
	}
	clear(pc.byMsgID)
}

func (pc *pubChannel) onReturn(r amqp.Return) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for pd := pc.byMsgID[r.MessageId]; pd != nil; pd = pd.sameID {
		if !pd.returned {
			pd.returned = true
			return
		}
	}
}

func (pc *pubChannel) onConfirm(c amqp.Confirmation) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pd, ok := pc.byTag[c.DeliveryTag]
	if !ok {
		return
	}
	pc.removeLocked(pd)
	switch {
	case pd.returned:
		pd.err = ErrNoRoute
	case !c.Ack:
		pd.err = ErrNacked
	}
	close(pd.done)
}

// confirmLoop resolves publishes from the channel's confirms and returns.
// The broker sends basic.return before the basic.ack of the same message and
// amqp091-go hands both over from one reader goroutine in that order, so once
// a confirm is here its return (if any) is already in the returns buffer:
// draining returns first makes the match exact.
func (pp *pathPub) confirmLoop(pc *pubChannel, confirms <-chan amqp.Confirmation, returns <-chan amqp.Return, chClosed <-chan *amqp.Error) {
	defer pp.pub.wg.Done()
	drain := func() {
		for {
			select {
			case r, ok := <-returns:
				if !ok {
					returns = nil
					return
				}
				pc.onReturn(r)
			default:
				return
			}
		}
	}
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			pc.onReturn(r)
		case c, ok := <-confirms:
			if !ok {
				pc.fail(fmt.Errorf("%w: publishing channel closed", ErrPathLost))
				pp.killIfCurrent(pc, errors.New("failover: publishing channel closed"))
				return
			}
			drain()
			pc.onConfirm(c)
		case amqpErr, ok := <-chClosed:
			chClosed = nil
			if ok && amqpErr != nil {
				// A channel exception while the connection lives (e.g. an
				// unknown exchange): the path restarts from a clean state.
				pp.killIfCurrent(pc, fmt.Errorf("failover: publishing channel closed: %w", amqpErr))
			}
		}
	}
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
