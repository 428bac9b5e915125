package rpc_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// pongWithoutCorrelation serves node as a py-servicebus agent answers a
// PING: PONG to reply_to, without the correlation id.
func pongWithoutCorrelation(t *testing.T, url, node string) {
	t.Helper()
	ch := testkit.Channel(t, url)
	testkit.DeleteQueues(t, url, node)
	if err := (topology.Topology{}).DeclareNodeQueue(ch, node); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(node, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for d := range deliveries {
			if codec.IsPing(d.Body) && d.ReplyTo != "" {
				_ = ch.Publish("", d.ReplyTo, false, false, amqp.Publishing{Body: codec.PongBody})
			}
		}
	}()
	t.Cleanup(func() {
		_ = ch.Close() // ends the consumer
		wg.Wait()
	})
}

// A PONG without correlation id used to go to the oldest ping waiting on
// the connection, whatever node it was for: a ping of a node nobody serves
// succeeded while the real one timed out.
func TestPongWithoutCorrelationIDAnswersOnlyItsOwnPing(t *testing.T) {
	url := brokertest.RequireBroker(t)
	silent := testkit.UniqueName("sbtest-ping-silent")
	declareNodeQueue(t, url, silent) // routed, never answered
	python := testkit.UniqueName("sbtest-ping-py")
	pongWithoutCorrelation(t, url, python)
	s := newSender(t, rpc.ReplyQueue, token.NoTokens, url)

	for round := range 5 {
		var wg sync.WaitGroup
		var errSilent, errPython error
		wg.Add(2)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
			defer cancel()
			_, errSilent = s.Ping(ctx, silent)
		}()
		go func() {
			defer wg.Done()
			time.Sleep(20 * time.Millisecond) // the silent node's ping is the older
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, errPython = s.Ping(ctx, python)
		}()
		wg.Wait()
		if !errors.Is(errSilent, rpc.ErrTimeout) {
			t.Fatalf("round %d: ping of a node nobody serves: %v, want ErrTimeout", round, errSilent)
		}
		if errPython != nil {
			t.Fatalf("round %d: ping of a py-servicebus-style agent: %v", round, errPython)
		}
	}
	all, err := s.PingAll(context.Background(), python)
	if err != nil || all.Answered != 1 {
		t.Fatalf("PingAll: %+v, %v", all, err)
	}
}
