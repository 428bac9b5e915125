package rpc_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// ignoredLog counts the replies the sender logged as ignored, by
// correlation id.
type ignoredLog struct {
	watermill.LoggerAdapter
	mu      sync.Mutex
	ignored map[string]int
}

func (l *ignoredLog) Info(msg string, fields watermill.LogFields) {
	if strings.Contains(msg, "ignored") {
		id, _ := fields["correlation_id"].(string)
		l.mu.Lock()
		l.ignored[id]++
		l.mu.Unlock()
	}
}

func (l *ignoredLog) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func (l *ignoredLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ignored[id]
}

// startEchoTwice consumes node's queue and answers every call twice, with
// the same correlation id: an agent that replies again after a redelivery.
func startEchoTwice(t *testing.T, url, node string) <-chan string {
	t.Helper()
	declareNodeQueue(t, url, node)
	_, ch := testkit.Dial(t, url)
	deliveries, err := ch.Consume(node, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, 16)
	go func() {
		for d := range deliveries {
			ev, _ := codec.DecodeEvent(d.Body, codec.Options{})
			reply := amqp.Publishing{CorrelationId: d.CorrelationId, Body: codec.EncodeResponse(&codec.Response{ID: ev.ID, Message: string(ev.Params)})}
			for range 2 {
				_ = ch.Publish("", d.ReplyTo, false, false, reply)
			}
			ids <- d.CorrelationId
		}
	}()
	return ids
}

// At most one reply per call: the second reply to an answered call is
// ignored (and logged), and the reply reader goes on serving other calls.
func TestDuplicateReplyIsIgnoredAndTheReaderGoesOn(t *testing.T) {
	url := brokertest.RequireBroker(t)
	for _, mode := range []rpc.ReplyMode{rpc.ReplyQueue, rpc.ReplyDirect} {
		t.Run(string(mode), func(t *testing.T) {
			node := testkit.UniqueName("sbtest-dup")
			ids := startEchoTwice(t, url, node)
			log := &ignoredLog{LoggerAdapter: watermill.NopLogger{}, ignored: map[string]int{}}
			s, err := rpc.NewSender(rpc.Config{Signer: token.NoTokens, ReplyMode: mode, CallTimeout: 10 * time.Second,
				Endpoints: []broker.Endpoint{{URL: url}}}, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			for i, params := range []string{`"first"`, `"second"`, `"third"`} {
				reply, err := s.Call(context.Background(), node+".util.echo", json.RawMessage(params))
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if reply.Raw != params {
					t.Fatalf("call %d: reply %s, want %s", i, reply.Raw, params)
				}
				id := <-ids
				testkit.Eventually(t, 5*time.Second, "the duplicate reply logged as ignored", func() bool { return log.count(id) == 1 })
			}
		})
	}
}
