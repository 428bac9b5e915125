package testkit

import (
	"sync"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ReplyQueue is a reply queue of a test's own, as a py-servicebus sender
// has: an exclusive, server-named queue whose replies go each to the channel
// Expect made for its correlation id. For tests that play a caller by hand.
type ReplyQueue struct {
	Name string // for reply_to

	mu      sync.Mutex
	waiting map[string]chan amqp.Delivery
	done    chan struct{}
}

// NewReplyQueue declares the queue on ch and consumes it until ch closes.
func NewReplyQueue(t testing.TB, ch *amqp.Channel) *ReplyQueue {
	t.Helper()
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatalf("testkit: declare reply queue: %v", err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatalf("testkit: consume reply queue: %v", err)
	}
	r := &ReplyQueue{Name: q.Name, waiting: map[string]chan amqp.Delivery{}, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for d := range deliveries {
			r.mu.Lock()
			c := r.waiting[d.CorrelationId]
			r.mu.Unlock()
			if c != nil {
				c <- d
			}
		}
	}()
	return r
}

// Expect returns the channel that gets the reply whose correlation id is id
// (the first one; call before publishing).
func (r *ReplyQueue) Expect(id string) <-chan amqp.Delivery {
	c := make(chan amqp.Delivery, 1)
	r.mu.Lock()
	r.waiting[id] = c
	r.mu.Unlock()
	return c
}

// Wait returns once the consumer has ended, after its channel closed.
func (r *ReplyQueue) Wait() { <-r.done }
