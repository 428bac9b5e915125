package servicebus_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/udplog"
)

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// scrape GETs url and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

func getStatus(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// value is testkit.MetricValue: a family's value for the labels in want.
var value = testkit.MetricValue

// observedNode runs an agent with metrics_addr and a sender on one
// registry, makes three calls, one call of an unknown service, a send and a
// ping, and waits for a health probe. It returns the agent's /metrics URL
// and the registry; a udplog collector and client are registered on it too.
func observedNode(t *testing.T) (string, *prometheus.Registry, servicebus.Config) {
	cfg := brokerConfig(t)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	cfg.MetricsAddr = freeAddr(t)
	cfg.ProbeInterval = 200 * time.Millisecond
	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, p []int) (int, error) { return p[0] + p[1], nil }))
	noted := make(chan struct{}, 1)
	agent.AddMessageService("log", "note", servicebus.Message(func(context.Context, string) error {
		noted <- struct{}{}
		return nil
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	base := "http://" + cfg.MetricsAddr
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })
	testkit.Eventually(t, 10*time.Second, "/readyz 200", func() bool {
		code, _, _ := getStatus(base + "/readyz")
		return code == http.StatusOK
	})

	sender, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sender.Close() })
	for range 3 {
		if _, err := sender.Call(ctx, cfg.NodeName+".math.add", []int{1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	var remote *servicebus.RemoteError
	if _, err := sender.Call(ctx, cfg.NodeName+".math.mul", []int{1, 2}); !errors.As(err, &remote) {
		t.Fatalf("call of an unknown service: %v, want a RemoteError", err)
	}
	if err := sender.Send(ctx, cfg.NodeName+".log.note", "hello"); err != nil {
		t.Fatal(err)
	}
	<-noted
	if _, err := sender.Ping(ctx, cfg.NodeName); err != nil {
		t.Fatal(err)
	}

	srv, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: filepath.Join(t.TempDir(), "a.log")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := udplog.Dial(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if err := metrics.AddUDPLogServer(reg, srv); err != nil {
		t.Fatal(err)
	}
	if err := metrics.AddUDPLogClient(reg, client); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 10*time.Second, "a health probe of each role and the handlers' metrics", func() bool {
		f := scrape(t, base+"/metrics")
		return value(f, "servicebus_broker_probe_duration_seconds", map[string]string{"role": "agent"}) > 0 &&
			value(f, "servicebus_broker_probe_duration_seconds", map[string]string{"role": "sender"}) > 0 &&
			value(f, "servicebus_handler_execution_time_seconds", map[string]string{"handler_name": "message:log.note"}) == 1
	})
	return base, reg, cfg
}

// After a few calls and an error, the agent's /metrics, scraped over HTTP
// and parsed by the Prometheus text parser, counts them where they belong.
func TestMetricsCountCallsAndAnErrorOverHTTP(t *testing.T) {
	base, _, _ := observedNode(t)
	f := scrape(t, base+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"servicebus_sender_calls_total", map[string]string{"category": "math", "service": "add", "outcome": "ok"}, 3},
		{"servicebus_sender_calls_total", map[string]string{"category": "math", "service": "mul", "outcome": "remote_error"}, 1},
		{"servicebus_sender_remote_errors_total", map[string]string{"service": "mul", "code": "unknown_service"}, 1},
		{"servicebus_sender_call_duration_seconds", map[string]string{"service": "add"}, 3},
		{"servicebus_sender_sends_total", map[string]string{"service": "note", "outcome": "ok"}, 1},
		{"servicebus_sender_pings_total", map[string]string{"outcome": "ok"}, 1},
		{"servicebus_sender_inflight", nil, 0},
		{"servicebus_publish_total", map[string]string{"outcome": "confirmed"}, 6},
		{"servicebus_publish_confirm_duration_seconds", nil, 6},
		{"servicebus_agent_rejected_total", map[string]string{"reason": "unknown_service"}, 1},
		{"servicebus_agent_rejected_total", map[string]string{"reason": "token"}, 0},
		{"servicebus_agent_received_total", nil, 6},
		{"servicebus_agent_inflight", nil, 0},
		{"servicebus_broker_up", map[string]string{"role": "agent"}, 1},
		{"servicebus_broker_up", map[string]string{"role": "sender"}, 1},
		{"servicebus_handler_execution_time_seconds", map[string]string{"handler_name": "rpc:math.add"}, 3},
	} {
		if got := value(f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Every delivery is settled after its reply is confirmed, which may be
	// after the caller has its answer: wait for the six acks.
	testkit.Eventually(t, 5*time.Second, "six deliveries acked", func() bool {
		return value(scrape(t, base+"/metrics"), "servicebus_agent_settled_total", map[string]string{"outcome": "acked"}) == 6
	})
	f = scrape(t, base+"/metrics")
	for _, c := range []struct {
		name    string
		outcome string
		want    float64
	}{
		// Three results, the unknown service's error and the PONG.
		{"servicebus_agent_replies_total", "published", 5},
		{"servicebus_agent_replies_total", "failed", 0},
		{"servicebus_agent_settled_total", "requeued", 0},
		{"servicebus_agent_settled_total", "rejected", 0},
	} {
		if got := value(f, c.name, map[string]string{"outcome": c.outcome}); got != c.want {
			t.Errorf("%s{outcome=%q} = %v, want %v", c.name, c.outcome, got, c.want)
		}
	}
	if code, body, err := getStatus(base + "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("/healthz: %d %q %v", code, body, err)
	}
	code, body, err := getStatus(base + "/readyz")
	var state struct {
		Ready   bool
		Brokers []struct {
			Broker    string
			Consuming bool
		}
	}
	if err != nil || code != http.StatusOK || json.Unmarshal([]byte(body), &state) != nil ||
		!state.Ready || len(state.Brokers) != 1 || !state.Brokers[0].Consuming {
		t.Errorf("/readyz: %d %q %v", code, body, err)
	}
	if testing.Verbose() {
		// The scrape, for the record (servicebus_* lines only).
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "servicebus_") && !strings.Contains(line, "_bucket{") {
					t.Log(line)
				}
			}
		}
	}
}

// A closed agent leaves the scrape: its brokers are no longer reported, and
// the collector lets it go. Its counts stay in the totals, which never go
// down when the next agent on the same registry counts on.
func TestClosedAgentLeavesTheScrapeButNotTheTotals(t *testing.T) {
	reg := prometheus.NewRegistry()
	gather := func() map[string]*dto.MetricFamily { return testkit.Gathered(t, reg) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	unknownCall := func() *servicebus.Agent {
		cfg := brokerConfig(t)
		cfg.Registerer = reg
		agent, err := servicebus.NewAgent(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := agent.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = agent.Close() })
		testkit.Eventually(t, 10*time.Second, "the agent consuming", func() bool { return agent.Consuming() > 0 })
		cfg.Registerer = nil
		sender, err := servicebus.NewSender(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		var remote *servicebus.RemoteError
		if _, err := sender.Call(ctx, cfg.NodeName+".math.none", 1); !errors.As(err, &remote) {
			t.Fatalf("call of an unknown service: %v, want a RemoteError", err)
		}
		return agent
	}
	rejected := map[string]string{"reason": "unknown_service"}
	agentUp := map[string]string{"role": "agent"}

	first := unknownCall()
	if f := gather(); value(f, "servicebus_agent_rejected_total", rejected) != 1 || value(f, "servicebus_broker_up", agentUp) != 1 {
		t.Fatalf("while the agent runs: rejected %v, broker_up %v; want 1 and 1",
			value(f, "servicebus_agent_rejected_total", rejected), value(f, "servicebus_broker_up", agentUp))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	f := gather()
	if got := value(f, "servicebus_broker_up", agentUp); got != -1 {
		t.Errorf("after Close the agent's broker is still reported: servicebus_broker_up{role=agent} = %v", got)
	}
	if got := value(f, "servicebus_agent_rejected_total", rejected); got != 1 {
		t.Errorf("after Close: rejected %v, want the closed agent's 1 kept", got)
	}
	if got := value(f, "servicebus_agent_received_total", nil); got != 1 {
		t.Errorf("after Close: received %v, want the closed agent's 1 kept", got)
	}

	unknownCall()
	f = gather()
	if got := value(f, "servicebus_agent_rejected_total", rejected); got != 2 {
		t.Errorf("with a second agent: rejected %v, want 2 (1 each)", got)
	}
	if got := value(f, "servicebus_broker_up", agentUp); got != 1 {
		t.Errorf("with a second agent: servicebus_broker_up{role=agent} = %v, want 1", got)
	}
}
