package publish

import (
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// pubChannel is one generation's publishing channel and the publishes in
// flight on it, replaced at every reconnect.
//
// Outcomes come from two sources, because neither is right alone:
//   - amqp091-go's NotifyPublish listener gives confirms in delivery-tag
//     order, after the basic.return of the same message (RabbitMQ sends the
//     return first and amqp091-go hands both over from one reader goroutine
//     in that order), so it says when a publish is settled and lets returns
//     be matched first. But its ack/nack flag is wrong when the broker nacks
//     tag N and then acks a lower tag with multiple=true: amqp091-go v1.16
//     reports N as acked (confirms.go, Multiple).
//   - the publish's own DeferredConfirmation holds the broker's real answer
//     for that tag, and is settled before the listener hears of it.
//
// So the listener says when, the DeferredConfirmation says what.
type pubChannel struct {
	gen  uint64
	conn *amqp.Connection
	ch   *amqp.Channel

	mu      sync.Mutex
	byTag   map[uint64]*pending
	byMsgID map[string]*pending // every publish in flight, for basic.return
	early   map[uint64]bool     // confirms that came before their publish call returned
	dead    error               // set once the channel is gone
}

func newPubChannel(gen uint64, conn *amqp.Connection, ch *amqp.Channel) *pubChannel {
	return &pubChannel{
		gen: gen, conn: conn, ch: ch,
		byTag:   make(map[uint64]*pending),
		byMsgID: make(map[string]*pending),
		early:   make(map[uint64]bool),
	}
}

// pending is one publish waiting for its confirm.
type pending struct {
	msgID    string
	tag      uint64
	dc       *amqp.DeferredConfirmation // nil until the publish call returned
	returned bool
	finished bool
	done     chan struct{}
	err      error // nil: acked and routed
}

// sameIDInFlight is returned by claim when a publish with the same message
// id waits for its confirm on this channel: basic.return names a message by
// its id alone, so two at once could not be told apart.
type sameIDInFlight struct{ done <-chan struct{} }

func (sameIDInFlight) Error() string {
	return "failover: a publish with the same message id is in flight"
}

// claim registers pd by its message id before it is published, so that its
// return, which may come before the publish call returns, finds it.
func (pc *pubChannel) claim(pd *pending) error {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead != nil {
		return pc.dead
	}
	if other, ok := pc.byMsgID[pd.msgID]; ok {
		return sameIDInFlight{done: other.done}
	}
	pc.byMsgID[pd.msgID] = pd
	return nil
}

// unclaim drops a publish that was never sent.
func (pc *pubChannel) unclaim(pd *pending) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.byMsgID[pd.msgID] == pd {
		delete(pc.byMsgID, pd.msgID)
	}
}

// sent records the delivery tag and confirmation of a publish that went out.
func (pc *pubChannel) sent(pd *pending, dc *amqp.DeferredConfirmation) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pd.finished {
		return // the channel died meanwhile
	}
	pd.tag, pd.dc = dc.DeliveryTag, dc
	if pc.early[pd.tag] {
		delete(pc.early, pd.tag)
		pc.settleLocked(pd)
		return
	}
	pc.byTag[pd.tag] = pd
}

func (pc *pubChannel) onReturn(r amqp.Return) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pd := pc.byMsgID[r.MessageId]; pd != nil {
		pd.returned = true
	}
}

func (pc *pubChannel) onConfirm(c amqp.Confirmation) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pd, ok := pc.byTag[c.DeliveryTag]
	if !ok {
		// Its publish call has not returned yet: sent settles it.
		pc.early[c.DeliveryTag] = true
		return
	}
	pc.settleLocked(pd)
}

// settleLocked ends a confirmed publish with the broker's answer: a return
// before the ack means no queue took it; the DeferredConfirmation tells ack
// from nack (never c.Ack, see pubChannel).
func (pc *pubChannel) settleLocked(pd *pending) {
	delete(pc.byTag, pd.tag)
	if pc.byMsgID[pd.msgID] == pd {
		delete(pc.byMsgID, pd.msgID)
	}
	var err error
	switch {
	case pd.returned:
		err = ErrNoRoute
	case !pd.dc.Acked():
		err = ErrNacked
	}
	pd.finishLocked(err)
}

func (pd *pending) finishLocked(err error) {
	if pd.finished {
		return
	}
	pd.finished = true
	pd.err = err
	close(pd.done)
}

// fail ends every publish in flight on this channel with err.
func (pc *pubChannel) fail(err error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.dead == nil {
		pc.dead = err
	}
	for _, pd := range pc.byMsgID {
		pd.finishLocked(err)
	}
	for _, pd := range pc.byTag {
		pd.finishLocked(err)
	}
	clear(pc.byMsgID)
	clear(pc.byTag)
	clear(pc.early)
}

// confirmLoop settles publishes from the channel's confirms and returns.
// Returns are drained before each confirm is looked at, so a return always
// reaches its publish before that publish's ack does (see pubChannel).
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
				err := fmt.Errorf("failover: publishing channel closed: %w", amqpErr)
				pc.fail(fmt.Errorf("%w: %w", ErrPathLost, err))
				pp.killIfCurrent(pc, err)
			}
		}
	}
}
