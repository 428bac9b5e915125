package publish_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
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
	p := readyPublisher(t, url)
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
	p := readyPublisher(t, url)

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
	p := readyPublisher(t, url)
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

// The outcome table of docs/reliability.md, tried against a real broker
// with random interleavings on two paths: acks (a transient queue), acks
// that wait for the disk (a durable queue), nacks (a queue that refuses),
// returns (no queue), and, from two proxies, connections reset and links
// gone silent long enough for confirm timeouts. Each publish's result is
// checked against where its message ended up:
//   - nil: the message is in a queue;
//   - ErrNoRoute or ErrUnavailable without ErrMaybeDelivered: it is nowhere;
//   - never nil for one sent to a refusing queue or to no queue.
func TestPublishOutcomesFollowTheTable(t *testing.T) {
	mainURL := brokertest.RequireBroker(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))

	transient := testkit.UniqueName("sbtest-prop-t")
	durable := testkit.UniqueName("sbtest-prop-d")
	refusing := testkit.UniqueName("sbtest-prop-r")
	nowhere := testkit.UniqueName("sbtest-prop-none")
	chT := declareQueue(t, mainURL, transient, nil)
	chD := declareDurableQueue(t, mainURL, durable)
	declareRefusingQueue(t, mainURL, refusing)

	proxies := []*brokertest.Proxy{brokertest.ProxyTo(t, mainURL), brokertest.ProxyTo(t, mainURL)}
	cfg := publish.Config{
		ConfirmTimeout: 250 * time.Millisecond,
		Backoff:        broker.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
		ProbeInterval:  -1,
	}
	for _, px := range proxies {
		cfg.Endpoints = append(cfg.Endpoints, broker.Endpoint{URL: px.URL("guest", "guest"), DialTimeout: 300 * time.Millisecond})
	}
	p, err := publish.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitReady(t, p, 0)
	waitReady(t, p, 1)

	type record struct {
		id, kind string
		err      error
	}
	var mu sync.Mutex
	var records []record
	stop := make(chan struct{})
	var wg sync.WaitGroup
	kinds := []string{transient, durable, refusing, nowhere}
	for w := range 16 {
		wg.Add(1)
		r := rand.New(rand.NewPCG(seed+uint64(w)+1, 7))
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := kinds[r.IntN(len(kinds))]
				id := fmt.Sprintf("w%d-%d", w, i)
				msg := amqp.Publishing{MessageId: id, Body: []byte(id)}
				if key == durable {
					msg.DeliveryMode = amqp.Persistent
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(100+r.IntN(600))*time.Millisecond)
				_, err := p.PublishAMQP(ctx, "", key, msg)
				cancel()
				mu.Lock()
				records = append(records, record{id: id, kind: key, err: err})
				mu.Unlock()
			}
		}()
	}
	// Chaos: each proxy now and then resets its connections or goes
	// silent for a while.
	end := time.Now().Add(6 * time.Second)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(150+rng.IntN(400)) * time.Millisecond)
		px := proxies[rng.IntN(len(proxies))]
		switch rng.IntN(3) {
		case 0:
			px.SetMode(brokertest.Reset)
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			px.SetMode(brokertest.Pass)
		case 1:
			px.SetMode(brokertest.Blackhole)
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
			px.SetMode(brokertest.Pass)
		}
	}
	close(stop)
	wg.Wait()
	for _, px := range proxies {
		px.SetMode(brokertest.Pass)
	}
	_ = p.Close()
	for _, px := range proxies {
		px.Close() // held data is forwarded or dropped, and no more comes
	}

	stored := map[string]bool{}
	for _, q := range []struct {
		ch   *amqp.Channel
		name string
	}{{chT, transient}, {chD, durable}} {
		for {
			d, ok, err := q.ch.Get(q.name, true)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			stored[d.MessageId] = true
		}
	}

	counts := map[string]int{}
	for _, rec := range records {
		maybe := errors.Is(rec.err, publish.ErrMaybeDelivered)
		switch {
		case rec.err == nil:
			counts["ok"]++
			if !stored[rec.id] {
				t.Errorf("%s to %s: reported confirmed, not in any queue", rec.id, rec.kind)
			}
			if rec.kind == refusing || rec.kind == nowhere {
				t.Errorf("%s to %s: reported confirmed", rec.id, rec.kind)
			}
		case maybe:
			counts["maybe delivered"]++
		default:
			switch {
			case errors.Is(rec.err, publish.ErrNoRoute):
				counts["no route"]++
				if rec.kind != nowhere {
					t.Errorf("%s to %s: ErrNoRoute, but that queue exists", rec.id, rec.kind)
				}
			case errors.Is(rec.err, publish.ErrNacked):
				counts["nacked"]++
			case errors.Is(rec.err, publish.ErrUnavailable):
				counts["unavailable"]++
			default:
				t.Errorf("%s to %s: unexpected error %v", rec.id, rec.kind, rec.err)
			}
			if stored[rec.id] {
				t.Errorf("%s to %s: %v says nothing was delivered, but it is in a queue", rec.id, rec.kind, rec.err)
			}
		}
	}
	t.Logf("%d publishes: %v", len(records), counts)
	for _, want := range []string{"ok", "no route", "nacked"} {
		if counts[want] == 0 {
			t.Errorf("no publish ended %q: the run did not exercise it", want)
		}
	}
}
