package publish_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

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
