package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// PingResult is what PingAll found out, one entry per broker in config order.
type PingResult struct {
	Brokers  int // brokers asked
	Answered int // brokers over which the node answered
	Paths    []PathPing
}

// PathPing is the outcome of a ping over one broker.
type PathPing struct {
	Endpoint string
	RTT      time.Duration // 0 when Err is set
	Err      error
}

// Ping sends PING to node's queue over the first healthy broker and returns
// the round-trip time of the PONG.
func (s *Sender) Ping(ctx context.Context, node string) (time.Duration, error) {
	return s.ping(ctx, node, -1)
}

// PingAll pings node over every broker at once and reports how many
// answered. The error is nil when at least one did.
func (s *Sender) PingAll(ctx context.Context, node string) (PingResult, error) {
	if err := checkNode(node); err != nil {
		return PingResult{}, fmt.Errorf("%w: %w", ErrBadTarget, err)
	}
	n := len(s.paths)
	res := PingResult{Brokers: n, Paths: make([]PathPing, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := s.ping(ctx, node, i)
			res.Paths[i] = PathPing{Endpoint: s.cfg.Endpoints[i].String(), RTT: rtt, Err: err}
		}()
	}
	wg.Wait()
	var errs []error
	for _, p := range res.Paths {
		if p.Err == nil {
			res.Answered++
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", p.Endpoint, p.Err))
		}
	}
	if res.Answered == 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

func (s *Sender) ping(ctx context.Context, node string, path int) (time.Duration, error) {
	if err := checkNode(node); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadTarget, err)
	}
	if s.closed() {
		return 0, ErrClosed
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	t := Target{Node: node}
	began := s.began(KindPing, t)
	rtt, err := s.pingOnce(ctx, node, path)
	s.ended(KindPing, t, err, began)
	return rtt, err
}

func (s *Sender) pingOnce(ctx context.Context, node string, path int) (time.Duration, error) {
	start := time.Now()
	id := s.newID()
	msg, err := s.request(ctx, start, id, nil)
	if err != nil {
		return 0, err
	}
	msg.Body = codec.PingBody
	// The PONG comes back on a queue of this ping's own: a py-servicebus
	// agent does not copy the correlation id into its PONG, and on the
	// shared reply queue such a PONG could not be told from another
	// node's.
	q := &pingQueue{pongs: make(chan []byte, 1)}
	defer q.close(&s.wg)
	prepare := func(_ int, conn *amqp.Connection, m amqp.Publishing) (amqp.Publishing, error) {
		name, err := q.open(ctx, conn)
		m.ReplyTo = name
		return m, err
	}
	if path < 0 {
		_, err = s.pub.PublishPrepared(ctx, s.exchange, node, msg, prepare)
	} else {
		_, err = s.pub.PublishOnPath(ctx, path, s.exchange, node, msg, prepare)
	}
	if err != nil {
		return 0, callError(ctx, node+" (ping)", err)
	}
	select {
	case body := <-q.pongs:
		if !bytes.Equal(body, codec.PongBody) {
			return 0, fmt.Errorf("rpc: ping %s: unexpected answer %q", node, truncate(body, 64))
		}
		return time.Since(start), nil
	case <-ctx.Done():
		return 0, s.explainTimeout(node, callError(ctx, node+" (ping)", ctx.Err()))
	case <-s.closing:
		return 0, ErrClosed
	}
}

// pingQueue is the reply queue of one ping: exclusive, auto-deleted, on a
// channel of its own on the connection of each broker the ping goes out on.
type pingQueue struct {
	pongs chan []byte // the first answer on any of its queues

	mu       sync.Mutex
	channels []*amqp.Channel
	names    map[*amqp.Connection]string
}

// open declares and consumes the ping's queue on conn; the broker round
// trips run where a silent link cannot hold the caller past ctx.
func (q *pingQueue) open(ctx context.Context, conn *amqp.Connection) (string, error) {
	if conn == nil {
		return "", errors.New("not connected")
	}
	q.mu.Lock()
	if name, ok := q.names[conn]; ok {
		q.mu.Unlock()
		return name, nil
	}
	q.mu.Unlock()
	type opened struct {
		ch   *amqp.Channel
		name string
		err  error
	}
	done := make(chan opened, 1)
	go func() {
		ch, err := conn.Channel()
		if err != nil {
			done <- opened{err: err}
			return
		}
		o := opened{ch: ch}
		var deliveries <-chan amqp.Delivery
		decl, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err == nil {
			o.name = decl.Name
			deliveries, err = ch.Consume(decl.Name, "", true, true, false, false, nil)
		}
		if err != nil {
			_ = ch.Close()
			done <- opened{err: err}
			return
		}
		go func() {
			for d := range deliveries {
				select {
				case q.pongs <- d.Body:
				default:
				}
			}
		}()
		done <- o
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return "", fmt.Errorf("ping reply queue: %w", o.err)
		}
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.names == nil {
			q.names = map[*amqp.Connection]string{}
		}
		q.names[conn] = o.name
		q.channels = append(q.channels, o.ch)
		return o.name, nil
	case <-ctx.Done():
		go func() { // close what opens late
			if o := <-done; o.ch != nil {
				_ = o.ch.Close()
			}
		}()
		return "", ctx.Err()
	}
}

// close drops the ping's queues (closing their channels deletes them). A
// close waits for the broker's answer, so it runs in the background, within
// the sender's lifetime.
func (q *pingQueue) close(wg *sync.WaitGroup) {
	q.mu.Lock()
	channels := q.channels
	q.channels = nil
	q.mu.Unlock()
	if len(channels) == 0 {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, ch := range channels {
			_ = ch.Close()
		}
	}()
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
