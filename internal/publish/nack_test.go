package publish_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

// RabbitMQ nacks a publish to a refusing queue at once, while the confirm
// of an earlier persistent publish still waits for the disk; that confirm
// then comes as one ack(multiple) covering the nacked tag too. amqp091-go
// v1.16 reports such a tag to NotifyPublish listeners as acked. A publish
// the broker refused must never be reported done.
func TestNackedPublishIsNeverReportedConfirmedAmongDiskAcks(t *testing.T) {
	url := brokertest.RequireBroker(t)
	refusing := testkit.UniqueName("sbtest-refuse")
	declareRefusingQueue(t, url, refusing)
	durable := testkit.UniqueName("sbtest-disk")
	declareDurableQueue(t, url, durable)
	p := newPublisher(t, url)
	waitReady(t, p, 0)

	const n = 400
	var refusedOK, nacked, durableFailed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			msg := amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("disk")}
			if _, err := p.PublishAMQP(context.Background(), "", durable, msg); err != nil {
				durableFailed.Add(1)
				t.Errorf("publish to the durable queue: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			// Refusals are retried until the deadline: keep it short. A
			// loaded broker may not answer at all by then: that is
			// ErrMaybeDelivered, which is true, if pessimistic.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := p.PublishAMQP(ctx, "", refusing, amqp.Publishing{Body: []byte("refused")})
			switch {
			case err == nil:
				refusedOK.Add(1)
			case errors.Is(err, publish.ErrNacked):
				nacked.Add(1)
			case !errors.Is(err, publish.ErrMaybeDelivered):
				t.Errorf("publish to the refusing queue: %v, want ErrNacked or ErrMaybeDelivered", err)
			}
		}()
	}
	wg.Wait()
	if got := refusedOK.Load(); got != 0 {
		t.Fatalf("%d of %d publishes the broker refused were reported confirmed", got, n)
	}
	if nacked.Load() == 0 {
		t.Fatal("no publish ended ErrNacked: the test did not exercise nacks")
	}
	wantQueued(t, url, durable, n)
}

// amqp091-go drops a notification that its listener does not take within
// 5 s; a dropped basic.return would turn an unroutable publish into a
// success. A flood of returns must reach every publish.
func TestEveryReturnOfAFloodReachesItsPublish(t *testing.T) {
	url := brokertest.RequireBroker(t)
	p := newPublisher(t, url)
	waitReady(t, p, 0)
	const n = 3000
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.PublishAMQP(context.Background(), "", testkit.UniqueName("sbtest-nobody"), amqp.Publishing{Body: []byte(strconv.Itoa(i))})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, publish.ErrNoRoute):
				t.Errorf("unroutable publish: %v, want ErrNoRoute", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 0 {
		t.Fatalf("%d of %d unroutable publishes were reported delivered", ok.Load(), n)
	}
}
