package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/go-servicebus/servicebus/internal/publish"
	amqp "github.com/rabbitmq/amqp091-go"
)

// directReplyTo is RabbitMQ's pseudo-queue for direct reply-to.
const directReplyTo = "amq.rabbitmq.reply-to"

// Sender calls and sends to NODE.CATEGORY.NAME over one connection per
// broker, shared by all goroutines. See the package documentation.
type Sender struct {
	cfg      Config
	logger   watermill.LoggerAdapter
	pub      *publish.Publisher
	exchange string
	paths    []*replyPath
	calls    *callTable

	idPrefix string
	seq      atomic.Uint64

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // reply consumers
}

// replyPath is the reply side of one broker connection.
type replyPath struct {
	mu      sync.RWMutex
	up      bool
	gen     uint64
	replyTo string
}

// NewSender starts connecting to every broker in the background and returns
// at once; calls made before a broker is up wait for one (up to their
// deadline). A nil logger means cfg.Logger, else no logging.
func NewSender(cfg Config, logger watermill.LoggerAdapter) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = cfg.Logger
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("rpc: random id prefix: %w", err)
	}
	s := &Sender{
		cfg:      cfg,
		logger:   logger,
		exchange: cfg.Topology.ExchangeName(),
		calls:    newCallTable(),
		idPrefix: hex.EncodeToString(rnd[:]) + "-",
		closing:  make(chan struct{}),
	}
	for range cfg.Endpoints {
		s.paths = append(s.paths, &replyPath{})
	}
	pub, err := publish.New(publish.Config{
		Endpoints:      cfg.Endpoints,
		Backoff:        cfg.Backoff,
		ProbeInterval:  cfg.ProbeInterval,
		ConfirmTimeout: cfg.ConfirmTimeout,
		PublishTimeout: cfg.CallTimeout,
		PreferPrimary:  cfg.PreferPrimary,
		OnUp:           s.onUp,
		OnDown:         s.onDown,
		Logger:         logger,
	})
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	s.pub = pub
	return s, nil
}

// Publisher is the publishing engine underneath, for its path states (the
// CLI prints each broker's failure from them).
func (s *Sender) Publisher() *publish.Publisher { return s.pub }

// Close fails waiting calls with ErrClosed, closes every connection and
// waits for the background goroutines. It is idempotent.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		_ = s.pub.Close()
		s.calls.failAll(ErrClosed)
		s.wg.Wait()
	})
	return nil
}

func (s *Sender) closed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

func (s *Sender) newID() string {
	return s.idPrefix + strconv.FormatUint(s.seq.Add(1), 36)
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
		c.done <- result{body: d.Body, headers: d.Headers}
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
