package rpc

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/publish"
)

// directReplyTo is RabbitMQ's pseudo-queue for direct reply-to.
const directReplyTo = "amq.rabbitmq.reply-to"

// replyPath is the reply side of one broker connection: where its calls'
// replies come back, and which connection (generation) that is.
type replyPath struct {
	mu      sync.RWMutex
	up      bool
	gen     uint64
	replyTo string
}

// onUp declares the exchange and starts the reply consumer of a new
// connection to broker idx.
func (s *Sender) onUp(idx int, conn *amqp.Connection, pubCh *amqp.Channel) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open reply channel: %w", err)
	}
	if err := s.cfg.Topology.DeclareExchange(ch); err != nil {
		return err
	}
	var deliveries <-chan amqp.Delivery
	var replyTo string
	switch s.cfg.ReplyMode {
	case ReplyDirect:
		_ = ch.Close()
		// Direct reply-to must be consumed no-ack on the channel that publishes.
		deliveries, err = pubCh.Consume(directReplyTo, "", true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("consume %s: %w", directReplyTo, err)
		}
		replyTo = directReplyTo
	default:
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			return fmt.Errorf("declare reply queue: %w", err)
		}
		// No-ack: a reply is worth nothing once this connection is gone,
		// and the exclusive queue goes with it.
		deliveries, err = ch.Consume(q.Name, "", true, true, false, false, nil)
		if err != nil {
			return fmt.Errorf("consume reply queue %s: %w", q.Name, err)
		}
		replyTo = q.Name
	}
	rp := s.paths[idx]
	rp.mu.Lock()
	rp.gen++
	gen := rp.gen
	rp.up = true
	rp.replyTo = replyTo
	rp.mu.Unlock()
	s.wg.Add(1)
	go s.consumeReplies(idx, gen, conn, deliveries)
	return nil
}

// onDown fails every call waiting for a reply on the lost connection.
func (s *Sender) onDown(idx int, err error) {
	rp := s.paths[idx]
	rp.mu.Lock()
	rp.up = false
	gen := rp.gen
	rp.mu.Unlock()
	lost := fmt.Errorf("%w: %s: %w", ErrConnectionLost, s.cfg.Endpoints[idx].String(), err)
	if s.closed() {
		lost = ErrClosed
	}
	if n := s.calls.failPath(idx, gen, lost); n > 0 {
		s.logger.Info("Calls failed: connection lost", watermill.LogFields{"broker": s.cfg.Endpoints[idx].String(), "calls": n})
	}
}

// prepare sets reply_to for path idx and records where the reply of c will
// come back.
func (s *Sender) prepare(c *call) publish.Prepare {
	return func(idx int, _ *amqp.Connection, msg *amqp.Publishing) error {
		rp := s.paths[idx]
		rp.mu.RLock()
		defer rp.mu.RUnlock()
		if !rp.up {
			return errors.New("reply consumer not ready")
		}
		msg.ReplyTo = rp.replyTo
		c.where.Store(packWhere(idx, rp.gen))
		return nil
	}
}

// stillUp reports whether the path generation in w is still connected; a
// call confirmed on a connection that is already gone will get no reply.
func (s *Sender) stillUp(w uint64) bool {
	idx, gen := unpackWhere(w)
	rp := s.paths[idx]
	rp.mu.RLock()
	defer rp.mu.RUnlock()
	return rp.up && rp.gen == gen
}

// consumeReplies hands each reply of one connection to the call waiting for
// it, by correlation id.
func (s *Sender) consumeReplies(idx int, gen uint64, conn *amqp.Connection, deliveries <-chan amqp.Delivery) {
	defer s.wg.Done()
	rp := s.paths[idx]
	for d := range deliveries {
		id := d.CorrelationId
		c, found := s.calls.take(id, idx)
		if c == nil {
			if found {
				s.logger.Info("Reply on an unexpected queue ignored", watermill.LogFields{"correlation_id": id, "broker": s.cfg.Endpoints[idx].String()})
			} else {
				s.logger.Info("Reply for an unknown call ignored (late or foreign)", watermill.LogFields{"correlation_id": id, "broker": s.cfg.Endpoints[idx].String()})
			}
			continue
		}
		c.done <- result{body: d.Body, headers: d.Headers, at: time.Now()}
	}
	// The consumer ended while the connection lives (queue deleted, consumer
	// cancelled): start the path over so a fresh reply queue exists.
	if !conn.IsClosed() && !s.closed() {
		rp.mu.RLock()
		current := rp.gen == gen && rp.up
		rp.mu.RUnlock()
		if current {
			s.pub.Path(idx).KillConn(conn, errors.New("rpc: reply consumer ended"))
		}
	}
}
