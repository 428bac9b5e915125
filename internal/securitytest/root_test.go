package securitytest

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// rootConfig is a config for the shared broker with a fresh node and
// exchange, as an operator writes it.
func rootConfig(t *testing.T, prefix string) servicebus.Config {
	t.Helper()
	url := brokertest.RequireBroker(t)
	w := newWorld(t, prefix) // for the names and their cleanup
	u, err := amqp.ParseURI(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg := servicebus.DefaultConfig()
	cfg.Hosts = []string{net.JoinHostPort(u.Host, strconv.Itoa(u.Port))}
	cfg.User, cfg.Password, cfg.VHost = u.Username, servicebus.Secret(u.Password), u.Vhost
	cfg.NodeName = w.node
	cfg.ExchangeName = w.topology.Exchange
	cfg.ProbeInterval = time.Hour
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// startRoot runs a root agent (with the test services) and sender for cfg.
func startRoot(t *testing.T, cfg servicebus.Config, log *captureLog) (*servicebus.Agent, *servicebus.Sender) {
	t.Helper()
	a, err := servicebus.NewAgent(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	addServices(a)
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	testkit.Eventually(t, 20*time.Second, "agent consuming", func() bool { return a.Consuming() == len(cfg.Hosts) })
	s, err := servicebus.NewSender(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return a, s
}

// TestRootHMACAndDailyEndToEnd: the front door in both token modes — calls
// of the same secret served, another secret refused as bad_token (in hmac
// mode that reply is signed with a secret the caller lacks, so its call times
// out; see TestHMACCallsWorkEndToEnd), a replay
// of a captured HMAC call refused, and no secret in any log line.
func TestRootHMACAndDailyEndToEnd(t *testing.T) {
	for _, mode := range []servicebus.TokenMode{servicebus.TokenDaily, servicebus.TokenHMAC} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := rootConfig(t, "root-"+string(mode))
			cfg.TokenMode = mode
			cfg.SecretToken = servicebus.Secret(uniq("secret"))
			log := newCaptureLog()
			agent, s := startRoot(t, cfg, log)
			w := &world{t: t, topology: cfg.Topology(), node: cfg.NodeName}
			w.endpoints, _ = cfg.Endpoints(log)
			captured := w.rawClient().capture()

			r, err := s.Call(context.Background(), cfg.NodeName+".math.add", []int{40, 2})
			if err != nil || r.Raw != "42" {
				t.Fatalf("call: %v %v", r, err)
			}
			if err := s.Send(context.Background(), cfg.NodeName+".math.add", []int{1}); err != nil {
				t.Fatal(err)
			}
			other := cfg
			other.SecretToken = servicebus.Secret(uniq("other"))
			s2, err := servicebus.NewSender(other, log)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = s2.Call(ctx, cfg.NodeName+".math.add", []int{1})
			var re *servicebus.RemoteError
			switch {
			case mode == servicebus.TokenDaily && (!errors.As(err, &re) || re.Code != codec.CodeBadToken):
				t.Fatalf("call with another secret: %v", err)
			case mode == servicebus.TokenHMAC && !errors.Is(err, servicebus.ErrTimeout):
				// The agent's refusal is signed with a secret s2 lacks.
				t.Fatalf("call with another secret: %v; want a timeout (the agent's bad_token reply is not signed for it)", err)
			}

			orig := captured()
			d := w.rawClient().call(orig.Body, orig.Headers)
			if mode == servicebus.TokenHMAC {
				expectBadToken(t, d, "replayed hmac call")
			} else {
				expectResult(t, d, "42") // the daily token's documented weakness
			}
			log.WaitFor(t, 5*time.Second, 1, "token not valid")
			noSecret(t, "logs", log.All(), string(cfg.SecretToken), string(other.SecretToken),
				token.DailyToken(string(cfg.SecretToken), time.Now(), time.Local))
			if agent.Stats().BadToken < 1 {
				t.Fatalf("stats %+v: no bad token counted", agent.Stats())
			}
		})
	}
}
