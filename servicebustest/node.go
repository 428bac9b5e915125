package servicebustest

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// Node is an agent and a sender of one node on a broker, started by
// StartNode.
type Node struct {
	Name   string            // the node's random name: its queue and routing key
	Config servicebus.Config // what the agent and the sender were built from
	Agent  *servicebus.Agent
	Sender *servicebus.Sender
}

// StartNode runs an agent for a node of a random name on the broker at url
// ("" means BrokerURL()), with the services register adds, and a sender to
// call it. It returns once the agent consumes the node's queue. When the
// test ends it closes both and deletes the node's queues. The config is
// BrokerConfig(t, url, opts...).
func StartNode(t testing.TB, url string, register func(*servicebus.Agent), opts ...func(*servicebus.Config)) *Node {
	t.Helper()
	cfg := BrokerConfig(t, url, opts...)
	n := &Node{Name: cfg.NodeName, Config: cfg}

	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatalf("servicebustest: %v", err)
	}
	n.Agent = agent
	t.Cleanup(func() {
		if err := agent.Close(); err != nil {
			t.Errorf("servicebustest: closing the agent of %s: %v", n.Name, err)
		}
	})
	if register != nil {
		register(agent)
	}
	if err := agent.Start(context.Background()); err != nil {
		t.Fatalf("servicebustest: start the agent of %s: %v", n.Name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for agent.Consuming() < len(cfg.Hosts) {
		if time.Now().After(deadline) {
			t.Fatalf("servicebustest: the agent of %s consumes %d of %d brokers after 10s", n.Name, agent.Consuming(), len(cfg.Hosts))
		}
		time.Sleep(5 * time.Millisecond)
	}
	sender, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		t.Fatalf("servicebustest: %v", err)
	}
	n.Sender = sender
	t.Cleanup(func() { _ = sender.Close() }) // before the agent's Close: cleanups run last first
	return n
}

// BrokerConfig is Config(opts...) for a node of a random name (NodeName)
// on the broker at url ("" means BrokerURL()): its host, user, password and
// vhost. When the test ends the node's queues are deleted from the broker.
// Without a broker the test is skipped, or fails in CI (CI set, not "false" or "0").
func BrokerConfig(t testing.TB, url string, opts ...func(*servicebus.Config)) servicebus.Config {
	t.Helper()
	if url == "" {
		url = BrokerURL()
	}
	requireBroker(t, url)
	cfg := Config(append([]func(*servicebus.Config){func(c *servicebus.Config) {
		c.NodeName = NodeName()
		if err := setBroker(c, url); err != nil {
			t.Fatalf("servicebustest: broker URL: %v", err)
		}
	}}, opts...)...)
	t.Cleanup(func() { deleteQueues(url, cfg) })
	return cfg
}

// Target is the node's "NODE.CATEGORY.NAME" of service "CATEGORY.NAME".
func (n *Node) Target(service string) string { return n.Name + "." + service }

// Call calls service "CATEGORY.NAME" of the node with the node's sender.
func (n *Node) Call(ctx context.Context, service string, params any) (*servicebus.Reply, error) {
	return n.Sender.Call(ctx, n.Target(service), params)
}

// Send sends to the message service "CATEGORY.NAME" of the node and
// returns once the broker confirmed it.
func (n *Node) Send(ctx context.Context, service string, params any) error {
	return n.Sender.Send(ctx, n.Target(service), params)
}

// setBroker points cfg at the broker of an AMQP URL.
func setBroker(cfg *servicebus.Config, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	cfg.Hosts = []string{u.Scheme + "://" + u.Host}
	cfg.UseSSL = u.Scheme == "amqps"
	if u.User != nil {
		cfg.User = u.User.Username()
		pass, _ := u.User.Password()
		cfg.Password = servicebus.Secret(pass)
	}
	cfg.VHost = "/"
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		if cfg.VHost, err = url.PathUnescape(p); err != nil {
			return err
		}
	}
	return nil
}

// deleteQueues removes the node's queue (and dead-letter queue) from the
// broker; what is already gone is fine.
func deleteQueues(url string, cfg servicebus.Config) {
	conn, err := amqp.Dial(url)
	if err != nil {
		return
	}
	defer conn.Close()
	names := []string{cfg.NodeName}
	if cfg.TopologyKind == topology.Durable {
		names = append(names, cfg.NodeName+".dead")
	}
	for _, q := range names {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		_, _ = ch.QueueDelete(q, false, false, false)
		_ = ch.Close()
	}
}

// redact hides the password of an AMQP URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
