package publish_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// A returned on broker A while broker B, which has the queue, never
// confirms: B may deliver the message, so the publish must not say "no
// route" (nothing delivered).
func TestNoRouteIsNeverReportedForAPublishThatMayBeDelivered(t *testing.T) {
	mainURL := brokertest.RequireBroker(t)
	nodeA := brokertest.StartNode(t, brokertest.NodeOptions{})
	proxyB := brokertest.ProxyTo(t, mainURL)
	q := testkit.UniqueName("sbtest-onlyb")
	chB := declareQueue(t, mainURL, q, nil)

	p, err := publish.New(publish.Config{
		Endpoints: []broker.Endpoint{
			{URL: nodeA.URL(), DialTimeout: time.Second},
			{URL: proxyB.URL("guest", "guest"), DialTimeout: time.Second},
		},
		PreferPrimary:  true,
		ConfirmTimeout: 300 * time.Millisecond,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitReady(t, p, 0)
	waitReady(t, p, 1)

	proxyB.SetMode(brokertest.Blackhole) // B takes the publish and holds it
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	res, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{MessageId: "maybe", Body: []byte("x")})
	if errors.Is(err, publish.ErrNoRoute) {
		t.Fatalf("ErrNoRoute (%+v) for a publish that B may deliver", res)
	}
	if err == nil || !errors.Is(err, publish.ErrUnavailable) || !errors.Is(err, publish.ErrMaybeDelivered) {
		t.Fatalf("err = %v, want ErrUnavailable and ErrMaybeDelivered", err)
	}

	proxyB.SetMode(brokertest.Pass) // held data flows on: B gets it
	testkit.Eventually(t, 10*time.Second, "the message on B", func() bool {
		got, err := chB.QueueDeclarePassive(q, false, false, false, false, nil)
		return err == nil && got.Messages == 1
	})
}

// basic.return names its message by id alone: with two publishes of one
// id in flight, a return must reach the one that was returned.
func TestReturnReachesItsOwnPublishWhenTwoShareAMessageID(t *testing.T) {
	url := brokertest.RequireBroker(t)
	durable := testkit.UniqueName("sbtest-slow")
	declareDurableQueue(t, url, durable)
	p := newPublisher(t, url)
	waitReady(t, p, 0)
	nowhere := testkit.UniqueName("sbtest-nobody")
	const pairs = 30
	for i := range pairs {
		id := "pair-" + strconv.Itoa(i)
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() {
			defer wg.Done()
			// Persistent to a durable queue: its confirm waits for the disk.
			_, errA = p.PublishAMQP(context.Background(), "", durable, amqp.Publishing{MessageId: id, DeliveryMode: amqp.Persistent})
		}()
		go func() {
			defer wg.Done()
			_, errB = p.PublishAMQP(context.Background(), "", nowhere, amqp.Publishing{MessageId: id})
		}()
		wg.Wait()
		if errA != nil {
			t.Fatalf("pair %d: the routed publish failed: %v", i, errA)
		}
		if !errors.Is(errB, publish.ErrNoRoute) {
			t.Fatalf("pair %d: the unroutable publish: %v, want ErrNoRoute", i, errB)
		}
	}
	wantQueued(t, url, durable, pairs)
}
