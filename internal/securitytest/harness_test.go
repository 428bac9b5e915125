package securitytest

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// uniq is a name no other test (or engineer) on the shared broker uses.
func uniq(prefix string) string { return testkit.UniqueName("sbsec-" + prefix) }

// world is one node on its own exchange on a broker: names, topology and
// the cleanup that deletes them.
type world struct {
	t         *testing.T
	endpoints []broker.Endpoint
	topology  topology.Topology
	node      string
	// services, when set, adds services to every agent startAgent starts.
	services func(*router.Agent)
}

// newWorld uses the shared test broker (SERVICEBUS_TEST_URL); in CI
// (testkit.InCI) a missing broker fails the test.
func newWorld(t *testing.T, prefix string) *world {
	t.Helper()
	url := brokertest.RequireBroker(t)
	return newWorldAt(t, prefix, broker.Endpoint{URL: url, DialTimeout: 10 * time.Second})
}

func newWorldAt(t *testing.T, prefix string, eps ...broker.Endpoint) *world {
	t.Helper()
	w := &world{
		t:         t,
		endpoints: eps,
		topology:  topology.Topology{Kind: topology.Compat, Exchange: uniq(prefix + "-x")},
		node:      uniq(prefix),
	}
	t.Cleanup(func() {
		conn, err := eps[0].Dial()
		if err != nil {
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(w.node, false, false, false)
		_ = ch.ExchangeDelete(w.topology.ExchangeName(), false, false)
	})
	return w
}

// services every agent of these tests serves.
func addServices(a *router.Agent) {
	a.AddRPCService("math", "add", router.RPC(func(_ context.Context, p []int) (int, error) {
		sum := 0
		for _, n := range p {
			sum += n
		}
		return sum, nil
	}))
	a.AddRPCService("text", "echo", func(_ context.Context, req *router.Request) (any, error) {
		var v any
		if err := req.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	})
}

// startAgent runs an agent for w's node and waits until it consumes on
// every broker. Close runs at cleanup.
func (w *world) startAgent(tokens token.Validator, log watermill.LoggerAdapter, tweak ...func(*router.Config)) *router.Agent {
	w.t.Helper()
	cfg := router.Config{
		Endpoints:     w.endpoints,
		Topology:      w.topology,
		NodeName:      w.node,
		Concurrency:   8,
		Tokens:        tokens,
		DrainTimeout:  5 * time.Second,
		ProbeInterval: -1,
		Backoff:       broker.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond, Multiplier: 2},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	a, err := router.NewAgent(cfg, log)
	if err != nil {
		w.t.Fatal(err)
	}
	addServices(a)
	if w.services != nil {
		w.services(a)
	}
	if err := a.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		if err := a.Close(); err != nil {
			w.t.Errorf("agent close: %v", err)
		}
	})
	testkit.Eventually(w.t, 20*time.Second, "agent consuming on every broker", func() bool { return a.Consuming() == len(w.endpoints) })
	return a
}

// startSender runs a sender on w's brokers. Close runs at cleanup.
func (w *world) startSender(signer token.Signer, log watermill.LoggerAdapter, tweak ...func(*rpc.Config)) *rpc.Sender {
	w.t.Helper()
	cfg := rpc.Config{
		Endpoints:     w.endpoints,
		Topology:      w.topology,
		CallTimeout:   10 * time.Second,
		Signer:        signer,
		ProbeInterval: -1,
		Backoff:       broker.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond, Multiplier: 2},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := rpc.NewSender(cfg, log)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() {
		if err := s.Close(); err != nil {
			w.t.Errorf("sender close: %v", err)
		}
	})
	return s
}

// rawClient speaks AMQP directly: it publishes whatever bytes and headers a
// test forges, reads replies on a queue of its own, and can capture copies of
// everything routed to the node.
type rawClient struct {
	t       *testing.T
	w       *world
	conn    *amqp.Connection
	ch      *amqp.Channel
	replies *testkit.ReplyQueue
}

func (w *world) rawClient() *rawClient {
	w.t.Helper()
	conn, err := w.endpoints[0].Dial()
	if err != nil {
		w.t.Fatal(err)
	}
	ch, err := conn.Channel()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.topology.DeclareExchange(ch); err != nil {
		w.t.Fatal(err)
	}
	c := &rawClient{t: w.t, w: w, conn: conn, ch: ch, replies: testkit.NewReplyQueue(w.t, ch)}
	w.t.Cleanup(func() { conn.Close(); c.replies.Wait() })
	return c
}

// publish sends body (and headers) to the node; with rpc, reply_to is the
// client's reply queue and the returned channel gets the reply.
func (c *rawClient) publish(body []byte, headers amqp.Table, rpc bool) <-chan amqp.Delivery {
	c.t.Helper()
	pub := amqp.Publishing{Body: body, Headers: headers, Timestamp: time.Now()}
	var r <-chan amqp.Delivery
	if rpc {
		id := uniq("corr")
		r = c.replies.Expect(id)
		pub.ReplyTo, pub.CorrelationId = c.replies.Name, id
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ch.PublishWithContext(ctx, c.w.topology.ExchangeName(), c.w.node, false, false, pub); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// call publishes an RPC and waits for its reply.
func (c *rawClient) call(body []byte, headers amqp.Table) amqp.Delivery {
	c.t.Helper()
	select {
	case d := <-c.publish(body, headers, true):
		return d
	case <-time.After(15 * time.Second):
		c.t.Fatalf("no reply within 15s to %.80q", body)
		return amqp.Delivery{}
	}
}

// capture binds a queue of its own to the node's routing key: it receives a
// copy of every call the node gets, as an eavesdropper with broker access
// would. The function it returns waits for the next copy.
func (c *rawClient) capture() func() amqp.Delivery {
	c.t.Helper()
	ch, err := c.conn.Channel()
	if err != nil {
		c.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := ch.QueueBind(q.Name, c.w.node, c.w.topology.ExchangeName(), false, nil); err != nil {
		c.t.Fatal(err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return func() amqp.Delivery {
		c.t.Helper()
		select {
		case m := <-d:
			return m
		case <-time.After(10 * time.Second):
			c.t.Fatal("the call was not captured")
			return amqp.Delivery{}
		}
	}
}

// errorCode is the structured error code of a reply ("" for a result).
func errorCode(d amqp.Delivery) string {
	v, _ := d.Headers[codec.HeaderErrorCode].(string)
	return v
}

// replyText is the response envelope's message of a reply.
func replyText(t *testing.T, d amqp.Delivery) string {
	t.Helper()
	r, err := codec.DecodeResponse(d.Body, codec.Options{})
	if err != nil {
		t.Fatalf("reply %q: %v", d.Body, err)
	}
	return r.Message
}

// headersOf turns a signer's headers into an AMQP table.
func headersOf(h map[string]string) amqp.Table {
	t := amqp.Table{}
	for k, v := range h {
		t[k] = v
	}
	return t
}
