package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
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
	var own *amqp.Channel // the reply queue's channel; nil in direct mode
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
		own = ch
	}
	rp := s.paths[idx]
	rp.mu.Lock()
	rp.gen++
	gen := rp.gen
	rp.up = true
	rp.replyTo = replyTo
	rp.mu.Unlock()
	s.wg.Add(1)
	go s.consumeReplies(replyConsumer{idx: idx, gen: gen, conn: conn, ch: own, replyTo: replyTo}, deliveries)
	return nil
}

// replyConsumer is the reply consumer of one connection.
type replyConsumer struct {
	idx     int // path
	gen     uint64
	conn    *amqp.Connection
	ch      *amqp.Channel // the reply queue's channel; nil in direct mode
	replyTo string
}

// deliver hands reply d to its call, unless it is refused: over
// max_body_size, or (hmac mode) without a good signature for that call. A
// refused reply leaves the call waiting for its true reply.
func (s *Sender) deliver(rc replyConsumer, d *amqp.Delivery) {
	idx, id := rc.idx, d.CorrelationId
	if id == s.flushID {
		// amqp091-go has moved past the dropped body (flushBody).
		s.releaseMemorySoon()
		return
	}
	fields := func() watermill.LogFields {
		return watermill.LogFields{"correlation_id": clipLog(id), "broker": s.cfg.Endpoints[idx].String(), "size": len(d.Body)}
	}
	if len(d.Body) > s.maxBodySize() {
		s.stats.oversizeReplies.Add(1)
		s.logRejection("oversize", "Reply over max_body_size dropped", fields())
		d.Body = nil
		s.flushBody(rc)
		return
	}
	if s.verifier != nil {
		// The call table is keyed by the call's id, which is also its
		// correlation id: a reply verifies only for the call it names.
		err := s.verifier.VerifyReply(&token.Reply{
			CallID: id, CorrelationID: id, Body: d.Body,
			ErrorCode:    headerText(d.Headers, codec.HeaderErrorCode),
			ErrorMessage: headerText(d.Headers, codec.HeaderErrorMessage),
		}, headerText(d.Headers, token.HeaderSignature))
		if err != nil {
			s.stats.badReplies.Add(1)
			s.calls.noteBadReply(id)
			s.logRejection("signature", "Reply without a good signature ignored", fields().Add(watermill.LogFields{"err": err.Error()}))
			return
		}
	}
	c, found := s.calls.take(id, idx)
	if c == nil {
		if found {
			s.logRejection("queue", "Reply on an unexpected queue ignored", fields())
		} else {
			s.logRejection("unknown", "Reply for an unknown call ignored (late or foreign)", fields())
		}
		return
	}
	c.finish(result{body: d.Body, headers: d.Headers})
}

// flushBody sends an empty message with the sender's flush id to its own
// reply queue after a dropped body: amqp091-go keeps the last body it read
// (in the channel and in its consumer buffer) until the next delivery, so
// the dropped one could not be freed before the next reply. When the flush
// comes back, the memory is released (releaseMemorySoon). In direct mode,
// where the sender cannot address its own reply pseudo-queue, the release
// is done at once and the last body stays until the next reply.
func (s *Sender) flushBody(rc replyConsumer) {
	if rc.ch != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if rc.ch.PublishWithContext(ctx, "", rc.replyTo, false, false, amqp.Publishing{CorrelationId: s.flushID}) == nil {
			return
		}
	}
	s.releaseMemorySoon()
}

func (s *Sender) maxBodySize() int {
	if s.cfg.Codec.MaxBodySize > 0 {
		return s.cfg.Codec.MaxBodySize
	}
	return codec.DefaultMaxBodySize
}

// headerText is a header that must be text; any other type counts as
// absent, which no good signature covers.
func headerText(h amqp.Table, key string) string {
	switch v := h[key].(type) {
	case string:
		return v
	default:
		return ""
	}
}

// clipLog bounds a field logged from a reply: anyone who can publish to the
// reply queue chooses it.
func clipLog(s string) string {
	const limit = 128
	if len(s) <= limit {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", strings.ToValidUTF8(s[:limit], ""), len(s))
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
	if broker.IsParseFailure(err) {
		// Poison in the reply queue (or direct reply-to): the path
		// reconnects after its first backoff step, on a fresh reply queue.
		s.stats.unreadableReplies.Add(1)
		s.logRejection("unreadable", "Reply connection lost to a delivery amqp091-go cannot parse; reconnecting on a fresh reply queue",
			watermill.LogFields{"broker": s.cfg.Endpoints[idx].String(), "err": clipLog(err.Error())})
	}
	if n := s.calls.failPath(idx, gen, lost); n > 0 {
		s.logger.Info("Calls failed: connection lost", watermill.LogFields{"broker": s.cfg.Endpoints[idx].String(), "calls": n})
	}
}

// prepare sets reply_to for path idx and records where the reply of c will
// come back.
func (s *Sender) prepare(c *call) publish.Prepare {
	return func(idx int, _ *amqp.Connection, msg amqp.Publishing) (amqp.Publishing, error) {
		rp := s.paths[idx]
		rp.mu.RLock()
		defer rp.mu.RUnlock()
		if !rp.up {
			return msg, errors.New("reply consumer not ready")
		}
		msg.ReplyTo = rp.replyTo
		c.where.Store(packWhere(idx, rp.gen))
		return msg, nil
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
func (s *Sender) consumeReplies(rc replyConsumer, deliveries <-chan amqp.Delivery) {
	defer s.wg.Done()
	idx, gen, conn := rc.idx, rc.gen, rc.conn
	rp := s.paths[idx]
	for d := range deliveries {
		s.deliver(rc, &d)
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
