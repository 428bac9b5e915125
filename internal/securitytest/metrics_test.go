package securitytest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Replies that cannot go out, and the requests they answer, show in the
// agent's metrics as what they are: failed replies and rejected
// deliveries, next to the good call's published reply and ack. Before,
// the scrape had no reply or settle counts, and a node refusing every
// reply looked like a node that answered.
func TestRefusedRepliesShowInTheAgentMetrics(t *testing.T) {
	w := newWorld(t, "metrics")
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.services = func(a *router.Agent) { m.AddAgent(a) }
	a := w.startAgent(token.NewDailyTokens(secret, nil), newCaptureLog())
	c := w.rawClient()
	// Direct reply-to names RabbitMQ cannot decode: the agent refuses to
	// publish there (it would cost the connection) and rejects the PING.
	bad := []string{"amq.rabbitmq.reply-to.Zm9v.YmFy", "amq.rabbitmq.reply-to.garbage", "amq.rabbitmq.reply-to.g2dkAA.AAAA"}
	for _, rt := range bad {
		pub := amqp.Publishing{Body: codec.PingBody, ReplyTo: rt, CorrelationId: "c"}
		if err := c.ch.PublishWithContext(context.Background(), w.topology.ExchangeName(), w.node, false, false, pub); err != nil {
			t.Fatal(err)
		}
	}
	tok := token.DailyToken(secret, time.Now(), time.Local)
	if d := c.call(testkit.PyCall("good", tok, "math", "add", "[1, 2]"), nil); replyText(t, d) != "3" {
		t.Fatalf("good call answered %q", replyText(t, d))
	}

	value := func(name, outcome string) float64 {
		return testkit.MetricValue(testkit.Gathered(t, reg), name, map[string]string{"outcome": outcome})
	}
	// The good call's ack follows its reply: wait for every delivery to
	// be settled before reading the counts.
	testkit.Eventually(t, 5*time.Second, "four deliveries settled", func() bool {
		return a.Stats().Acked+a.Stats().Rejected == 4
	})
	for _, c := range []struct {
		name, outcome string
		want          float64
	}{
		{"servicebus_agent_replies_total", "published", 1},
		{"servicebus_agent_replies_total", "failed", len64(bad)},
		{"servicebus_agent_settled_total", "acked", 1},
		{"servicebus_agent_settled_total", "rejected", len64(bad)},
		{"servicebus_agent_settled_total", "requeued", 0},
	} {
		if got := value(c.name, c.outcome); got != c.want {
			t.Errorf("%s{outcome=%q} = %v, want %v", c.name, c.outcome, got, c.want)
		}
	}
}

func len64(s []string) float64 { return float64(len(s)) }
