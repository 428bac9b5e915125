package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/metrics"
)

// A failover.Publisher with PublisherObserver counts its attempts in
// servicebus_publish_total by outcome, on its broker, and its probes under
// role "publisher": a confirmed publish and a returned one (no queue for
// the key) land in their own outcomes. With AddPublisher its broker is in
// servicebus_broker_up until it is closed.
func TestPublisherObserverCountsAttemptsAndProbes(t *testing.T) {
	url := brokertest.RequireBroker(t)
	q := testkit.UniqueName("sbtest-metrics-pub")
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	testkit.DeleteQueues(t, url, q)

	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := failover.NewPublisher(failover.PublisherConfig{
		Endpoints:     []broker.Endpoint{{URL: url}},
		ProbeInterval: 50 * time.Millisecond,
		Observer:      m.PublisherObserver(),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m.AddPublisher(p)
	testkit.Eventually(t, 10*time.Second, "path 0 ready", func() bool { return p.Ready(0) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.PublishAMQP(ctx, "", q, amqp.Publishing{Body: []byte("to a queue")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PublishAMQP(ctx, "", q+"-nobody", amqp.Publishing{Body: []byte("to no queue")}); !errors.Is(err, failover.ErrNoRoute) {
		t.Fatalf("publish to no queue: %v, want ErrNoRoute", err)
	}

	value := func(name string, labels map[string]string) float64 {
		return testkit.MetricValue(testkit.Gathered(t, reg), name, labels)
	}
	for _, c := range []struct {
		outcome string
		want    float64
	}{{"confirmed", 1}, {"returned", 1}, {"nacked", 0}, {"unavailable", 0}} {
		if got := value("servicebus_publish_total", map[string]string{"outcome": c.outcome}); got != c.want {
			t.Errorf("servicebus_publish_total{outcome=%q} = %v, want %v", c.outcome, got, c.want)
		}
	}
	if got := value("servicebus_publish_confirm_duration_seconds", nil); got != 1 {
		t.Errorf("confirm latencies observed: %v, want 1 (the confirmed publish)", got)
	}
	testkit.Eventually(t, 5*time.Second, "a probe of role publisher", func() bool {
		return value("servicebus_broker_probe_duration_seconds", map[string]string{"role": metrics.RolePublisher}) > 0
	})
	up := map[string]string{"role": metrics.RolePublisher}
	if got := value("servicebus_broker_up", up); got != 1 {
		t.Errorf("servicebus_broker_up{role=publisher} = %v, want 1", got)
	}
	// Closed, the publisher leaves the scrape.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := value("servicebus_broker_up", up); got != -1 {
		t.Errorf("after Close: servicebus_broker_up{role=publisher} = %v, want no such series", got)
	}
}
