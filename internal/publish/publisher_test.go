package publish_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

func newPublisher(t *testing.T, urls ...string) *publish.Publisher {
	t.Helper()
	cfg := publish.Config{PreferPrimary: true, ConfirmTimeout: 2 * time.Second}
	for _, u := range urls {
		cfg.Endpoints = append(cfg.Endpoints, broker.Endpoint{URL: u, DialTimeout: time.Second})
	}
	p, err := publish.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// readyPublisher is newPublisher on url alone, once its path is ready.
func readyPublisher(t *testing.T, url string) *publish.Publisher {
	t.Helper()
	p := newPublisher(t, url)
	waitReady(t, p, 0)
	return p
}

// declareQueue declares queue on url with args and deletes it at the end.
func declareQueue(t *testing.T, url, queue string, args amqp.Table) *amqp.Channel {
	t.Helper()
	return declare(t, url, queue, false, args)
}

// declareDurableQueue is declareQueue for a durable queue.
func declareDurableQueue(t *testing.T, url, queue string) *amqp.Channel {
	t.Helper()
	return declare(t, url, queue, true, nil)
}

func declare(t *testing.T, url, queue string, durable bool, args amqp.Table) *amqp.Channel {
	t.Helper()
	testkit.DeleteQueues(t, url, queue)
	ch := testkit.Channel(t, url)
	if _, err := ch.QueueDeclare(queue, durable, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	return ch
}

// declareRefusingQueue is declareQueue for a queue that refuses (nacks)
// every publish: length limit 0, overflow reject-publish.
func declareRefusingQueue(t *testing.T, url, queue string) *amqp.Channel {
	t.Helper()
	return declare(t, url, queue, false, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"})
}

// wantQueued fails the test unless queue on url holds n messages.
func wantQueued(t *testing.T, url, queue string, n int) {
	t.Helper()
	if _, ready, err := testkit.QueueState(url, queue); err != nil || ready != n {
		t.Fatalf("queue %s holds %d messages (%v), want %d", queue, ready, err, n)
	}
}

func waitReady(t *testing.T, p *publish.Publisher, i int) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "path "+strconv.Itoa(i)+" ready", func() bool { return p.Ready(i) })
}

func TestPublishConfirmsManyInFlight(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-pub")
	declareQueue(t, url, q, nil)
	p := readyPublisher(t, url)
	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.PublishAMQP(context.Background(), "", q, amqp.Publishing{Body: []byte(strconv.Itoa(i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantQueued(t, url, q, n)
}

func TestPublishReturnedIsErrNoRouteAtOnce(t *testing.T) {
	url := brokertest.RequireBroker(t)
	p := readyPublisher(t, url)
	// Same message id in flight twice: both are matched to their return.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := p.PublishAMQP(context.Background(), "", testkit.UniqueName("sbtest-nobody"), amqp.Publishing{MessageId: "same"})
			if !errors.Is(err, publish.ErrNoRoute) {
				t.Errorf("err = %v, want ErrNoRoute", err)
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Errorf("ErrNoRoute after %s, want < 100ms", took)
			}
		}()
	}
	wg.Wait()
}

func TestPublishWithNoBrokerIsErrUnavailableByTheDeadline(t *testing.T) {
	port := brokertest.FreePort(t)
	p := newPublisher(t, "amqp://guest:guest@127.0.0.1:"+strconv.Itoa(port)+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.PublishAMQP(ctx, "", "q", amqp.Publishing{})
	if !errors.Is(err, publish.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestPublishNackedByEveryBrokerIsErrNacked(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-full")
	declareRefusingQueue(t, url, q)
	p := readyPublisher(t, url)
	// A refusal may be transient (a quorum queue electing its leader): the
	// publish is tried again after a backoff until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{})
	took := time.Since(start)
	// The last try may still be out at the deadline (a busy broker): then
	// it may have been delivered, as far as the publisher can tell.
	if !errors.Is(err, publish.ErrNacked) || !errors.Is(err, publish.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrNacked and ErrUnavailable", err)
	}
	if res.Attempts < 3 {
		t.Fatalf("%d attempts in %s, want the refused publish retried until its deadline", res.Attempts, took)
	}
	if took < 350*time.Millisecond || took > 900*time.Millisecond {
		t.Fatalf("gave up after %s, want about the 400ms deadline", took)
	}
}

// One throwaway node for the failover cases: paths [main, node] or
// [node, main].
func TestPublishFailsOverBetweenBrokers(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := brokertest.StartNode(t, brokertest.NodeOptions{})
	q := testkit.UniqueName("sbtest-fo")
	// On main the queue refuses everything; on the node it takes messages.
	declareRefusingQueue(t, url, q)
	nodeCh := declareQueue(t, node.URL(), q, nil)
	onlyOnNode := testkit.UniqueName("sbtest-only")
	declareQueue(t, node.URL(), onlyOnNode, nil)

	p := newPublisher(t, url, node.URL())
	waitReady(t, p, 0)
	waitReady(t, p, 1)
	ctx := context.Background()

	res, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{Body: []byte("x")})
	if err != nil || res.Path != 1 || res.Attempts != 2 {
		t.Fatalf("nack failover: %+v, %v; want path 1 after 2 attempts", res, err)
	}
	res, err = p.PublishAMQP(ctx, "", onlyOnNode, amqp.Publishing{})
	if err != nil || res.Path != 1 || res.Attempts != 2 {
		t.Fatalf("return failover: %+v, %v; want path 1 after 2 attempts", res, err)
	}

	// A blocked broker (memory alarm): RabbitMQ tells a connection only once
	// it publishes, so the first publish there waits for its confirm
	// timeout; after that the path is skipped until the alarm clears.
	if out, err := node.Ctl("set_vm_memory_high_watermark", "0.0000001"); err != nil {
		t.Fatalf("set watermark: %v %s", err, out)
	}
	testkit.Eventually(t, 10*time.Second, "memory alarm", func() bool {
		out, _ := node.Ctl("eval", "rabbit_alarm:get_alarms().")
		return strings.Contains(out, "memory")
	})
	// The publish that finds the alarm may still go through; the
	// connection is blocked right after it.
	for i := 0; !p.Path(1).Blocked(); i++ {
		if i == 3 {
			t.Fatal("the node path was never blocked")
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := p.PublishAMQP(pctx, "", onlyOnNode, amqp.Publishing{})
		cancel()
		t.Logf("publish into the alarm: %v", err)
	}
	if p.Ready(1) {
		t.Fatal("the node path should be blocked and not ready")
	}
	// Publishing into the blocked connection anyway fills the socket: the
	// writes stall, yet every publish leaves by its deadline.
	big := make([]byte, 256<<10)
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			if _, err := p.PublishOnPath(pctx, 1, "", onlyOnNode, amqp.Publishing{Body: big}, nil); err == nil {
				t.Error("a publish into a blocked broker was confirmed")
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("publishes into a blocked broker took %s to give up, want about 500ms", took)
	}
	start = time.Now()
	nctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	res, err = p.PublishAMQP(nctx, "", q, amqp.Publishing{})
	cancel()
	if !errors.Is(err, publish.ErrNacked) || res.Attempts < 2 {
		t.Fatalf("err = %v after %d attempts, want ErrNacked from main alone, retried", err, res.Attempts)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("gave up after %s, want the 300ms deadline", took)
	}
	if out, err := node.Ctl("set_vm_memory_high_watermark", "0.4"); err != nil {
		t.Fatalf("reset watermark: %v %s", err, out)
	}
	waitReady(t, p, 1)
	if res, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{}); err != nil || res.Path != 1 {
		t.Fatalf("after the alarm: %+v, %v; want path 1", res, err)
	}

	// With the node stopped, the returned publish has nowhere else to go.
	node.Stop(t)
	testkit.Eventually(t, 10*time.Second, "node path down", func() bool { return !p.Ready(1) })
	start = time.Now()
	if _, err := p.PublishAMQP(ctx, "", onlyOnNode, amqp.Publishing{}); !errors.Is(err, publish.ErrNoRoute) {
		t.Fatalf("err = %v, want ErrNoRoute", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("ErrNoRoute after %s", took)
	}
	_ = nodeCh
}

func TestPublishReturnsToThePrimaryOnceItIsBackUnlessSticky(t *testing.T) {
	url := brokertest.RequireBroker(t)
	node := brokertest.StartNode(t, brokertest.NodeOptions{})
	q := testkit.UniqueName("sbtest-prim")
	declareQueue(t, url, q, nil)
	nodeQueue := func() {
		// The node loses non-durable queues when stopped: declare again.
		declareQueue(t, node.URL(), q, nil)
	}
	nodeQueue()

	primary := newPublisher(t, node.URL(), url)
	stickyCfg := publish.Config{Endpoints: []broker.Endpoint{{URL: node.URL()}, {URL: url}}}
	sticky, err := publish.New(stickyCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sticky.Close() })
	for _, p := range []*publish.Publisher{primary, sticky} {
		waitReady(t, p, 0)
		waitReady(t, p, 1)
	}
	ctx := context.Background()
	landsOn := func(p *publish.Publisher, want int) {
		t.Helper()
		res, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{})
		if err != nil || res.Path != want {
			t.Fatalf("publish: %+v, %v; want path %d", res, err, want)
		}
	}
	landsOn(primary, 0)
	landsOn(sticky, 0)

	node.Stop(t)
	landsOn(primary, 1)
	landsOn(sticky, 1)

	node.Start(t)
	nodeQueue()
	waitReady(t, primary, 0)
	waitReady(t, sticky, 0)
	landsOn(primary, 0)
	landsOn(sticky, 1)
}
