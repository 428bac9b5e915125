package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
)

// errConsumerGone is the reason a path is reconnected when the broker
// cancelled its consumer (queue deleted, leader moved) or its channel died.
var errConsumerGone = errors.New("router: consumer cancelled by the broker")

// errReplyChannelClosed is the reason a path is reconnected when its reply
// channel died under a live connection.
var errReplyChannelClosed = errors.New("router: reply channel closed")

// pathConn is one live connection of a path: the channel that consumes the
// node queue (and acks on it) and the long-lived channel replies go out on.
type pathConn struct {
	index  int
	broker string
	conn   *amqp.Connection
	ch     *amqp.Channel
	tag    string
	down   chan struct{} // closed by OnDown: the connection is gone
	done   chan struct{} // closed when the consume loop ended

	replyCh     *amqp.Channel
	replyClosed <-chan *amqp.Error
	// replyGate: replies publish under its read lock; a suspect's reply
	// (poison.go) under its write lock, alone on the connection.
	replyGate  sync.RWMutex
	replyingMu sync.Mutex
	replying   map[*delivery]struct{} // replies being published, for blame

	goneOnce sync.Once // consumerGone
}

// delivery is kept with every message handed to the router so that its
// ack and its reply go to the broker and channel it came from.
type delivery struct {
	amqp.Delivery
	pc      *pathConn
	requeue atomic.Bool // a nack gives it back to the broker instead of rejecting it
	reject  atomic.Bool // answered, but rejected instead of acked: bad input is dead-lettered
	// suspect: its reply was being published when the broker closed the
	// connection before (poison.go); suspectID names it in the table.
	suspect   bool
	suspectID uint64
	decoded   decoded    // what route made of the body, for Decode
	request   Request    // decoded.req when the body is a request
	span      trace.Span // the process span (tracing.go); nil for a PING
	// spanCtx holds span: the reply's headers get its trace context
	// without a context made per reply.
	spanCtx context.Context
	// out holds the reply that HandleRPC returns to the router (produced).
	out      [1]*message.Message
	outTaken atomic.Bool
	ctx      deliveryContext // its message's first context (newMessage)
}

type deliveryKey struct{}

// deliveryContext is the context a delivery's message starts with: the
// agent's base context, which also gives the delivery for deliveryKey. It
// lives in the delivery, so it costs no heap object of its own, where a
// context.WithValue cost one a call. Contexts made from it still find the
// base context's cancelCtx through Value, as they would through a
// context.WithValue: no goroutine watches it.
type deliveryContext struct {
	context.Context // the agent's baseCtx
	dl              *delivery
}

func (c *deliveryContext) Value(key any) any {
	if _, ok := key.(deliveryKey); ok {
		return c.dl
	}
	return c.Context.Value(key)
}

func deliveryFrom(msg *message.Message) *delivery {
	dl, _ := msg.Context().Value(deliveryKey{}).(*delivery)
	return dl
}

// onUp declares the topology, sets the prefetch, opens the reply channel and
// starts consuming; it runs on every (re)connect of path i.
func (a *Agent) onUp(i int, broker string) func(*amqp.Connection) error {
	checkShared := a.competingConsumers(i, broker)
	return func(conn *amqp.Connection) error {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open consumer channel: %w", err)
		}
		if err := a.cfg.Topology.DeclareNodeQueue(ch, a.cfg.NodeName); err != nil {
			return err
		}
		checkShared(conn)
		if err := a.clearUnreadable(i, broker, conn); err != nil {
			return err
		}
		if err := ch.Qos(a.cfg.Concurrency, 0, false); err != nil {
			return fmt.Errorf("set prefetch %d: %w", a.cfg.Concurrency, err)
		}
		replyCh, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("open reply channel: %w", err)
		}
		if err := replyCh.Confirm(false); err != nil {
			return fmt.Errorf("confirm mode on reply channel: %w", err)
		}
		pc := &pathConn{
			index:       i,
			broker:      broker,
			conn:        conn,
			ch:          ch,
			tag:         fmt.Sprintf("servicebus.%s.%d.%s", a.cfg.NodeName, i, watermill.NewShortUUID()),
			down:        make(chan struct{}),
			done:        make(chan struct{}),
			replyCh:     replyCh,
			replyClosed: replyCh.NotifyClose(make(chan *amqp.Error, 1)),
			replying:    map[*delivery]struct{}{},
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.stopping || a.feedStopped {
			return nil // Close is under way: connected, but consuming nothing
		}
		deliveries, err := ch.Consume(a.cfg.NodeName, pc.tag, false, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("consume %q: %w", a.cfg.NodeName, err)
		}
		a.conns[i] = pc
		a.consumeWG.Add(2)
		go a.consume(pc, deliveries)
		go a.watchQueue(pc)
		a.logger.Info("Consuming node queue", watermill.LogFields{"broker": broker, "queue": a.cfg.NodeName, "prefetch": a.cfg.Concurrency})
		return nil
	}
}

// onDown stops the consume loop of path i; deliveries still in flight on
// that connection cannot be acked any more and the broker redelivers them.
func (a *Agent) onDown(i int) func(error) {
	return func(reason error) {
		a.mu.Lock()
		pc := a.conns[i]
		a.conns[i] = nil
		if isParseFailure(reason) {
			a.parseLosses[i]++
		} else {
			a.parseLosses[i] = 0
		}
		a.mu.Unlock()
		if pc == nil {
			return
		}
		if closedByBroker(reason) {
			a.blameReplying(pc)
		}
		close(pc.down)
		<-pc.done
	}
}

// consume hands deliveries to their handlers (route), at most Concurrency
// in flight across all paths.
func (a *Agent) consume(pc *pathConn, deliveries <-chan amqp.Delivery) {
	defer a.consumeWG.Done()
	defer close(pc.done)
	for {
		var d amqp.Delivery
		var ok bool
		select {
		case d, ok = <-deliveries:
		case amqpErr := <-pc.replyClosed:
			// Replies can no more go out on this connection: start over.
			pc.replyClosed = nil
			reason := error(errReplyChannelClosed)
			if amqpErr != nil {
				reason = fmt.Errorf("%w: %w", errReplyChannelClosed, amqpErr)
			}
			a.path(pc.index).KillConn(pc.conn, reason)
			continue
		case <-pc.down:
			return
		case <-a.stopFeed:
			return
		}
		if !ok {
			select {
			case <-pc.down:
			case <-a.stopFeed:
			default:
				if pc.conn.IsClosed() {
					break // the path sees it and reconnects by itself
				}
				// The connection lives but the consumer does not: reconnect,
				// which declares the queue again and consumes anew.
				a.logger.Info("Consumer gone, reconnecting", watermill.LogFields{"broker": pc.broker})
				a.consumerGone(pc, errConsumerGone)
			}
			return
		}
		dl := &delivery{Delivery: d, pc: pc}
		if d.Redelivered {
			a.stats.redelivered.Add(1)
			if !a.admitRedelivery(dl) {
				continue
			}
		}
		select {
		case a.sem <- struct{}{}:
		case <-pc.down:
			return
		case <-a.stopFeed:
			_ = d.Nack(false, true)
			return
		}
		msg := a.newMessage(dl)
		out := a.route(msg, dl)
		a.startSpan(msg, dl)
		a.inflight.Add(1)
		select {
		case out <- msg:
			a.stats.received.Add(1)
			go a.settle(msg, dl)
		case <-pc.down:
			dl.endSpan(errNotAcked)
			a.release()
			return
		case <-a.stopFeed:
			_ = d.Nack(false, true)
			dl.endSpan(errNotAcked)
			a.release()
			return
		}
	}
}

func (a *Agent) newMessage(dl *delivery) *message.Message {
	msg, err := a.marshaler.Unmarshal(dl.Delivery)
	if err != nil || msg == nil {
		// The codec's marshaler tolerates any header; this is a safety net.
		msg = message.NewMessage(watermill.NewUUID(), dl.Body)
	}
	dl.ctx = deliveryContext{Context: a.baseCtx, dl: dl}
	msg.SetContext(&dl.ctx)
	return msg
}
