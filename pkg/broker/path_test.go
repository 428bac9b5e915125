package broker_test

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

func TestPathReconnectsAfterKill(t *testing.T) {
	url := brokertest.RequireBroker(t)
	var ups, downs atomic.Int32
	var lastDown atomic.Value
	p := broker.NewPath(broker.PathConfig{
		Endpoint: broker.Endpoint{URL: url},
		OnUp:     func(*amqp.Connection) error { ups.Add(1); return nil },
		OnDown:   func(err error) { lastDown.Store(err); downs.Add(1) },
	}, nil)
	defer p.Close()
	testkit.Eventually(t, 5*time.Second, "first connect", p.Healthy)
	first := p.Conn()

	reason := errors.New("test: kill")
	p.Kill(reason)
	testkit.Eventually(t, 5*time.Second, "reconnect", func() bool { return ups.Load() == 2 && p.Healthy() })
	if downs.Load() != 1 || !errors.Is(lastDown.Load().(error), reason) {
		t.Fatalf("OnDown ran %d times with %v, want once with the kill reason", downs.Load(), lastDown.Load())
	}
	if p.Conn() == first || !first.IsClosed() {
		t.Fatal("the killed connection should be closed and replaced")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if downs.Load() != 2 || p.Healthy() || p.Conn() != nil {
		t.Fatalf("after Close: downs %d, healthy %v", downs.Load(), p.Healthy())
	}
}

// Reconnect attempts are spaced by the backoff: with 40 ms doubling and no
// jitter, the fourth failed dial comes no sooner than 40+80+160 ms after the
// first attempt. Only a lower bound: a busy machine makes it later, never
// sooner. Without the backoff the refused dials follow each other at once.
func TestPathRetriesAnUnreachableBrokerWithBackoff(t *testing.T) {
	port := brokertest.FreePort(t)
	start := time.Now()
	p := broker.NewPath(broker.PathConfig{
		Endpoint: broker.Endpoint{URL: "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(port) + "/", DialTimeout: 200 * time.Millisecond},
		Backoff:  broker.Backoff{Initial: 40 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0},
	}, nil)
	defer p.Close()
	testkit.Eventually(t, 5*time.Second, "4 failed attempts", func() bool { return p.State().Failures >= 4 })
	if took, least := time.Since(start), (40+80+160)*time.Millisecond; took < least {
		t.Fatalf("4 attempts within %s: the waits between them add up to at least %s", took, least)
	}
	if p.Healthy() || p.Err() == nil {
		t.Fatal("healthy, or no dial error, without a broker")
	}
}

// OnUp that returns nil just as the set-up timer closes the connection has
// set things up for a connection that is gone: OnDown must undo them.
func TestPathRunsOnDownWhenOnUpFinishesAfterItsTimeout(t *testing.T) {
	url := brokertest.RequireBroker(t)
	var ups, downs atomic.Int32
	slow := make(chan struct{})
	p := broker.NewPath(broker.PathConfig{
		Endpoint:     broker.Endpoint{URL: url},
		SetupTimeout: 100 * time.Millisecond,
		OnUp: func(conn *amqp.Connection) error {
			if ups.Add(1) == 1 {
				<-conn.NotifyClose(make(chan *amqp.Error, 1)) // the timer closes it
				close(slow)
			}
			return nil
		},
		OnDown: func(error) { downs.Add(1) },
	}, nil)
	defer p.Close()
	<-slow
	testkit.Eventually(t, 5*time.Second, "the second connect", func() bool { return ups.Load() >= 2 && p.Healthy() })
	if got := downs.Load(); got != 1 {
		t.Fatalf("OnDown ran %d times after a set-up that finished too late, want once", got)
	}
}

// State counts the failed attempts since the last connect, and the
// connects: what a command needs to tell a broker that never answered.
func TestPathStateCountsFailuresUntilAConnect(t *testing.T) {
	closed := broker.NewPath(broker.PathConfig{
		Endpoint: broker.Endpoint{URL: "amqp://guest:guest@127.0.0.1:" + strconv.Itoa(brokertest.FreePort(t)) + "/"},
		Backoff:  broker.Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond},
	}, nil)
	defer closed.Close()
	testkit.Eventually(t, 5*time.Second, "3 failures", func() bool { return closed.State().Failures >= 3 })
	if st := closed.State(); st.Connects != 0 || st.Healthy || st.Err == nil || st.Refused != nil {
		t.Fatalf("closed port: %+v", st)
	}

	url := brokertest.RequireBroker(t)
	up := broker.NewPath(broker.PathConfig{Endpoint: broker.Endpoint{URL: url}}, nil)
	defer up.Close()
	testkit.Eventually(t, 5*time.Second, "connected", up.Healthy)
	up.Kill(errors.New("test: kill"))
	testkit.Eventually(t, 5*time.Second, "connected again", func() bool { return up.State().Connects == 2 && up.Healthy() })
	if st := up.State(); st.Failures != 0 || st.Refused != nil {
		t.Fatalf("after two connects: %+v", st)
	}
}
