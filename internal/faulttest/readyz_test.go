//go:build faults

package faulttest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

// An agent's /readyz follows its only broker: 200 while it consumes there,
// 503 (with each broker's state) within probe_interval + 1 s of the broker
// stopping, 200 again once it is back.
func TestReadyzFollowsTheOnlyBroker(t *testing.T) {
	node := brokertest.StartNode(t, brokertest.NodeOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cfg := servicebus.DefaultConfig()
	cfg.Hosts = []string{fmt.Sprintf("127.0.0.1:%d", node.Port())}
	cfg.NodeName = testkit.UniqueName("fault-readyz")
	cfg.TokenMode = servicebus.TokenOff
	cfg.ProbeInterval = time.Second
	cfg.MetricsAddr = addr
	agent, err := servicebus.NewAgent(cfg, newTestLog(t).adapter("agent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Close() })

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testkit.Eventually(t, 30*time.Second, "/readyz 200 with the broker up", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})

	stopAt := time.Now()
	node.Stop(t)
	stopped := time.Now()
	bound := cfg.ProbeInterval + time.Second
	var body string
	testkit.Eventually(t, bound, "/readyz 503 within probe_interval + 1 s of the broker stopping", func() bool {
		var code int
		code, body = readyz()
		return code == http.StatusServiceUnavailable
	})
	t.Logf("FIGURES /readyz 503 %s after Stop returned (%s after it began); body %s",
		time.Since(stopped).Round(time.Millisecond), time.Since(stopAt).Round(time.Millisecond), strings.TrimSpace(body))
	if !strings.Contains(body, `"consuming":false`) || !strings.Contains(body, fmt.Sprint(node.Port())) {
		t.Errorf("503 body does not give the broker's state: %s", body)
	}

	node.Start(t)
	started := time.Now()
	testkit.Eventually(t, 30*time.Second, "/readyz 200 again once the broker is back", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	t.Logf("FIGURES /readyz 200 again %s after the broker was ready", time.Since(started).Round(time.Millisecond))
}
