package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
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
	url := brokertest.RequireBroker(t)
	u, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	node := testkit.UniqueName("sbtest-mathagent")
	t.Setenv("SERVICEBUS_HOSTS", fmt.Sprintf("%s:%d", u.Host, u.Port))
	t.Setenv("SERVICEBUS_USER", u.Username)
	t.Setenv("SERVICEBUS_PASSWORD", u.Password)
	t.Setenv("SERVICEBUS_VHOST", u.Vhost)
	t.Setenv("SERVICEBUS_NODE_NAME", node)
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "secret token")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := ln.Addr().String()
	ln.Close()
	t.Setenv("SERVICEBUS_METRICS_ADDR", metricsAddr)
	testkit.DeleteQueues(t, url, node)
	ch := testkit.Channel(t, url)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, &logs) }()
	testkit.Eventually(t, 10*time.Second, "the agent consuming", func() bool {
		c, _, err := testkit.QueueState(url, node)
		return err == nil && c == 1
	})

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
		d := testkit.Receive(t, replies, 5*time.Second, fmt.Sprintf("%s: no reply", params))
		r, err := codec.DecodeResponse(d.Body, codec.Options{})
		if err != nil || r.Message != "3" {
			t.Errorf("%s: reply %q err %v", params, d.Body, err)
		}
	}
	ev := codec.Event{ID: "msg-7", Token: tok, Category: "math", Service: "add", Params: json.RawMessage("[20, 22]")}
	if err := ch.PublishWithContext(ctx, "py-servicebus", node, false, false, amqp.Publishing{Body: codec.EncodeEvent(&ev)}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the message logged", func() bool {
		return strings.Contains(logs.String(), "event_id=msg-7") && strings.Contains(logs.String(), "sum=42")
	})

	// SERVICEBUS_METRICS_ADDR alone turned the endpoints on.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	for _, m := range families["servicebus_handler_execution_time_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "handler_name" && l.GetValue() == "rpc:math.add" {
				calls += int(m.GetHistogram().GetSampleCount())
			}
		}
	}
	if calls != 2 {
		t.Errorf("/metrics counts %d calls of rpc:math.add, want 2", calls)
	}
	if resp, err := http.Get("http://" + metricsAddr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	cancel()
	if err := testkit.Receive(t, done, 10*time.Second, "agent did not stop"); err != nil {
		t.Fatal(err)
	}
}
