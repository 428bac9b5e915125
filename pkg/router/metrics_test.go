package router_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// Watermill's Prometheus metrics work on an agent, labelled by service: the
// handler_name of a call to math.add is rpc:math.add.
func TestWatermillMetricsLabelEachService(t *testing.T) {
	conn, node := freshNode(t, "metrics")
	reg := prometheus.NewRegistry()
	startAgent(t, node, func(a *router.Agent) {
		metrics.NewPrometheusMetricsBuilder(reg, "servicebus", "").AddPrometheusRouterMetrics(a.Router())
		a.AddRPCService("math", "add", add)
	})
	c := newPyClient(t, conn, node)
	if r := response(t, c.call(testkit.PyCall("1", todayToken(), "math", "add", "[1, 2]"), 5*time.Second)); r.Message != "3" {
		t.Fatalf("math.add: %q", r.Message)
	}
	c.call(testkit.PyCall("2", todayToken(), "math", "mul", "[1, 2]"), 5*time.Second)

	want := map[string]uint64{"rpc:math.add": 1, router.HandlerRPC: 1}
	testkit.Eventually(t, 5*time.Second, "handler_execution_time_seconds of rpc:math.add and the catch-all", func() bool {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]uint64{}
		for _, f := range families {
			if f.GetName() != "servicebus_handler_execution_time_seconds" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "handler_name" {
						got[l.GetValue()] += m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		for name, n := range want {
			if got[name] != n {
				return false
			}
		}
		return true
	})
}
