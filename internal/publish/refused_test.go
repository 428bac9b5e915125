package publish_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

func wrongPassword(url string) string {
	return strings.Replace(url, "guest:guest", "guest:not-the-password", 1)
}

func missingVhost(url string) string {
	return strings.TrimSuffix(url, "/") + "/" + testkit.UniqueName("no-such-vhost")
}

// When every broker refuses in a way that waiting will not heal, a publish
// says so within a second, naming each broker's cause, instead of waiting
// for its deadline; it is no ErrUnavailable (retrying will not help).
func TestPublishFailsAtOnceWhenEveryBrokerRefuses(t *testing.T) {
	url := brokertest.RequireBroker(t)
	p := newPublisher(t, wrongPassword(url), missingVhost(url))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := p.PublishAMQP(ctx, "", "q", amqp.Publishing{})
	took := time.Since(start)
	if !errors.Is(err, broker.ErrRefused) || errors.Is(err, publish.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrRefused alone", err)
	}
	for _, want := range []string{"every broker refused", "access refused", "vhost not found"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if took > time.Second {
		t.Errorf("refusal reported after %s; want within 1 s", took)
	}
	// The paths keep trying: a refusal now is no promise for later.
	before := p.Path(0).State().Failures
	testkit.Eventually(t, 5*time.Second, "another attempt", func() bool { return p.Path(0).State().Failures > before })
}

// A broker that may yet answer keeps the publish waiting until its
// deadline; the error then names why each broker is down.
func TestPublishWaitsForABrokerThatMayAnswer(t *testing.T) {
	url := brokertest.RequireBroker(t)
	silent := brokertest.NewSilentBroker(t)
	p := newPublisher(t, wrongPassword(url), silent.URL("amqp", "guest", "guest"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := p.PublishAMQP(ctx, "", "q", amqp.Publishing{})
	if !errors.Is(err, publish.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable at the deadline", err)
	}
	for _, want := range []string{"access refused", silent.Addr() + "/: no answer yet"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// Close does not wait for connect attempts under way.
func TestCloseDoesNotWaitForConnectAttempts(t *testing.T) {
	silent := brokertest.NewSilentBroker(t)
	slow := brokertest.NewSlowRefusal(t, time.Minute, 403, "ACCESS_REFUSED")
	p, err := publish.New(publish.Config{Endpoints: []broker.Endpoint{
		{URL: silent.URL("amqp", "guest", "guest"), DialTimeout: time.Minute},
		{URL: silent.URL("amqps", "guest", "guest"), DialTimeout: time.Minute},
		{URL: slow.URL("amqp", "guest", "guest"), DialTimeout: time.Minute},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "three connects under way", func() bool { return silent.Accepted() >= 2 && slow.Logins() >= 1 })
	start := time.Now()
	_ = p.Close()
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Close took %s", took)
	}
}
