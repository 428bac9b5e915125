package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
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

// brokerURL is the test broker (SERVICEBUS_TEST_URL, else the local one).
func brokerURL() string {
	if u := os.Getenv("SERVICEBUS_TEST_URL"); u != "" {
		return u
	}
	return brokertest.DefaultURL
}

// dialBroker connects to the broker at url; without one the test fails
// in CI (testkit.InCI) and is skipped elsewhere (brokertest.RequireBroker).
func dialBroker(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	if url == brokerURL() {
		brokertest.RequireBroker(t)
	}
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// freshNode connects to the test broker and names a node no other test
// uses, whose queue is deleted when the test ends.
func freshNode(t *testing.T, prefix string) (*amqp.Connection, string) {
	t.Helper()
	conn := dialBroker(t, brokerURL())
	node := testkit.UniqueName("sbtest-" + prefix)
	testkit.DeleteQueues(t, brokerURL(), node)
	return conn, node
}

// vectorXML is the py-servicebus call of category.service with params, as
// py-servicebus itself wrote it, with today's token in place of the one the
// vector was made with.
func vectorXML(t *testing.T, category, service string, params string) []byte {
	t.Helper()
	for _, m := range testkit.LoadVectors(t).CallMessages {
		if m.Category == category && m.Service == service && compactJSON(t, m.Params) == compactJSON(t, json.RawMessage(params)) {
			return []byte(testkit.WithToken(m.XML, todayToken()))
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

func todayToken() string { return token.DailyToken(secret, time.Now(), time.Local) }

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
	return startLoggedAgent(t, node, nil, setup, opts...)
}

// startLoggedAgent is startAgent with a logger.
func startLoggedAgent(t *testing.T, node string, logger watermill.LoggerAdapter, setup func(*router.Agent), opts ...agentOpt) *router.Agent {
	t.Helper()
	cfg := testConfig(node)
	for _, o := range opts {
		o(&cfg)
	}
	a, err := router.NewAgent(cfg, logger)
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
	testkit.Eventually(t, 10*time.Second, "agent consuming on all brokers", func() bool { return a.Consuming() == len(cfg.Endpoints) })
	return a
}

// pyClient publishes as a py-servicebus sender does: to the exchange, routing
// key = node, reply_to = its own queue, and reads the replies.
type pyClient struct {
	t        *testing.T
	ch       *amqp.Channel
	exchange string
	node     string
	replies  *testkit.ReplyQueue
}

func newPyClient(t *testing.T, conn *amqp.Connection, node string) *pyClient {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	c := &pyClient{t: t, ch: ch, exchange: topology.DefaultExchange, node: node, replies: testkit.NewReplyQueue(t, ch)}
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
	r := c.replies.Expect(id)
	pub.Body, pub.ReplyTo, pub.CorrelationId = body, c.replies.Name, id
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
