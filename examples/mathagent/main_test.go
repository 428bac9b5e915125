package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNumbersTakeAListOrAnObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"[1, 2]", 3, true},
		{"[]", 0, true},
		{"[1.5, 2, -0.5]", 3, true},
		{`{"a": 1, "b": 2}`, 3, true},
		{`{"a": 1}`, 0, false},
		{`"x"`, 0, false},
		{`[1, "x"]`, 0, false},
	} {
		var n Numbers
		err := json.Unmarshal([]byte(tc.in), &n)
		if (err == nil) != tc.ok || (tc.ok && n.Sum() != tc.want) {
			t.Errorf("%s: sum %v err %v", tc.in, n.Sum(), err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The example, configured through SERVICEBUS_* only, answers a py-servicebus
// call, logs a message, and stops on its context.
func TestMathAgentServesPyServicebusCalls(t *testing.T) {
	url := os.Getenv("SERVICEBUS_TEST_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no RabbitMQ at %s: %v", url, err)
		}
		t.Skipf("no RabbitMQ at %s: %v", url, err)
	}
	defer conn.Close()
	u, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("sbtest-mathagent-%08x", rand.Uint32())
	t.Setenv("SERVICEBUS_HOSTS", fmt.Sprintf("%s:%d", u.Host, u.Port))
	t.Setenv("SERVICEBUS_USER", u.Username)
	t.Setenv("SERVICEBUS_PASSWORD", u.Password)
	t.Setenv("SERVICEBUS_VHOST", u.Vhost)
	t.Setenv("SERVICEBUS_NODE_NAME", node)
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "secret token")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = ch.QueueDelete(node, false, false, false) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, &logs) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q, err := ch.QueueDeclarePassive(node, true, false, false, false, nil)
		if err != nil {
			if ch, err = conn.Channel(); err != nil {
				t.Fatal(err)
			}
		} else if q.Consumers == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not consuming; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	reply, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := ch.Consume(reply.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok := token.DailyToken("secret token", time.Now(), time.Local)
	for i, params := range []string{"[1, 2]", `{"a": 1, "b": 2}`} {
		ev := codec.Event{ID: fmt.Sprint(i), Token: tok, Category: "math", Service: "add", Params: json.RawMessage(params)}
		if err := ch.PublishWithContext(ctx, "py-servicebus", node, false, false, amqp.Publishing{
			Body: codec.EncodeEvent(&ev), ReplyTo: reply.Name, CorrelationId: ev.ID,
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-replies:
			r, err := codec.DecodeResponse(d.Body, codec.Options{})
			if err != nil || r.Message != "3" {
				t.Errorf("%s: reply %q err %v", params, d.Body, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no reply", params)
		}
	}
	ev := codec.Event{ID: "msg-7", Token: tok, Category: "math", Service: "add", Params: json.RawMessage("[20, 22]")}
	if err := ch.PublishWithContext(ctx, "py-servicebus", node, false, false, amqp.Publishing{Body: codec.EncodeEvent(&ev)}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "event_id=msg-7") || !strings.Contains(logs.String(), "sum=42") {
		if time.Now().After(deadline) {
			t.Fatalf("message not logged; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
}
