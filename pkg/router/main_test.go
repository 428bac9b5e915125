package router_test

import (
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

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "secret token"

func brokerURL() string {
	if u := os.Getenv("SERVICEBUS_TEST_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// dialBroker connects to the test broker; without one the test fails under
// CI=true and is skipped elsewhere.
func dialBroker(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no RabbitMQ at %s (CI=true): %v", url, err)
		}
		t.Skipf("no RabbitMQ at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// vectors are the messages py-servicebus itself produced.
type vectors struct {
	CallMessages []struct {
		Category string          `json:"category"`
		Service  string          `json:"service"`
		Params   json.RawMessage `json:"params"`
		XML      string          `json:"xml"`
	} `json:"call_messages"`
}

func loadVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("../codec/testdata/py-servicebus-2.x-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// vectorXML is the py-servicebus call of category.service with today's token
// in place of the one the vector was made with.
func vectorXML(t *testing.T, category, service string, params string) []byte {
	t.Helper()
	for _, m := range loadVectors(t).CallMessages {
		if m.Category == category && m.Service == service && compactJSON(t, m.Params) == compactJSON(t, json.RawMessage(params)) {
			return []byte(withToken(m.XML, token.DailyToken(secret, time.Now(), time.Local)))
		}
	}
	t.Fatalf("no vector for %s.%s %s", category, service, params)
	return nil
}

func compactJSON(t *testing.T, raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func withToken(xml, token string) string {
	start := strings.Index(xml, "<token>") + len("<token>")
	end := strings.Index(xml, "</token>")
	return xml[:start] + token + xml[end:]
}

// pyCall is a call envelope laid out as py-servicebus writes it.
func pyCall(id, token, category, service, params string) []byte {
	return []byte(fmt.Sprintf("<?xml version=\"1.0\"?>\n<event version=\"1\">\n    <id>%s</id>\n    <token>%s</token>\n    <catgory>%s</catgory>\n    <service>%s</service>\n    <params><![CDATA[%s]]></params>\n</event>\n",
		id, token, category, service, params))
}

func todayToken() string { return token.DailyToken(secret, time.Now(), time.Local) }

func uniqueNode(prefix string) string {
	return fmt.Sprintf("sbtest-%s-%08x", prefix, rand.Uint32())
}

// deleteQueues removes a test node's queues (and dead-letter queue) at the end.
func deleteQueues(t *testing.T, url string, names ...string) {
	t.Cleanup(func() {
		conn, err := amqp.Dial(url)
		if err != nil {
			return
		}
		defer conn.Close()
		for _, n := range names {
			ch, err := conn.Channel()
			if err != nil {
				return
			}
			_, _ = ch.QueueDelete(n, false, false, false)
			_ = ch.Close()
		}
	})
}

type agentOpt func(*router.Config)

func testConfig(node string) router.Config {
	return router.Config{
		Endpoints:     []broker.Endpoint{{URL: brokerURL()}},
		NodeName:      node,
		Tokens:        token.NewDailyTokens(secret, nil),
		DrainTimeout:  5 * time.Second,
		ProbeInterval: -1,
	}
}

// startAgent starts an agent for a fresh node on the test broker and waits
// until it consumes.
func startAgent(t *testing.T, node string, setup func(*router.Agent), opts ...agentOpt) *router.Agent {
	t.Helper()
	cfg := testConfig(node)
	for _, o := range opts {
		o(&cfg)
	}
	a, err := router.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(a)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	waitFor(t, 10*time.Second, "agent consuming on all brokers", func() bool { return a.Consuming() == len(cfg.Endpoints) })
	return a
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pyClient publishes as a py-servicebus sender does: to the exchange, routing
// key = node, reply_to = its own queue, and reads the replies.
type pyClient struct {
	t        *testing.T
	ch       *amqp.Channel
	exchange string
	node     string
	replyQ   string

	mu      sync.Mutex
	replies map[string]chan amqp.Delivery
}

func newPyClient(t *testing.T, conn *amqp.Connection, node string) *pyClient {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &pyClient{t: t, ch: ch, exchange: topology.DefaultExchange, node: node, replyQ: q.Name, replies: map[string]chan amqp.Delivery{}}
	go func() {
		for d := range deliveries {
			c.mu.Lock()
			r := c.replies[d.CorrelationId]
			c.mu.Unlock()
			if r != nil {
				r <- d
			}
		}
	}()
	t.Cleanup(func() { _ = ch.Close() })
	return c
}

// call publishes body as an RPC and returns the reply (fails after timeout).
func (c *pyClient) call(body []byte, timeout time.Duration) amqp.Delivery {
	c.t.Helper()
	r := c.start(body, amqp.Publishing{})
	select {
	case d := <-r:
		return d
	case <-time.After(timeout):
		c.t.Fatalf("no reply within %s to %.60q", timeout, body)
		return amqp.Delivery{}
	}
}

// start publishes an RPC and returns where its reply will arrive.
func (c *pyClient) start(body []byte, pub amqp.Publishing) <-chan amqp.Delivery {
	c.t.Helper()
	id := fmt.Sprintf("%08x", rand.Uint64())
	r := make(chan amqp.Delivery, 1)
	c.mu.Lock()
	c.replies[id] = r
	c.mu.Unlock()
	pub.Body, pub.ReplyTo, pub.CorrelationId = body, c.replyQ, id
	if err := c.ch.PublishWithContext(context.Background(), c.exchange, c.node, false, false, pub); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// send publishes a message (no reply_to), persistent, as our sender does.
func (c *pyClient) send(body []byte) {
	c.t.Helper()
	pub := amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent}
	if err := c.ch.PublishWithContext(context.Background(), c.exchange, c.node, false, false, pub); err != nil {
		c.t.Fatal(err)
	}
}

// response decodes a reply body as a py-servicebus sender does.
func response(t *testing.T, d amqp.Delivery) codec.Response {
	t.Helper()
	r, err := codec.DecodeResponse(d.Body, codec.Options{})
	if err != nil {
		t.Fatalf("reply %q: %v", d.Body, err)
	}
	return r
}
