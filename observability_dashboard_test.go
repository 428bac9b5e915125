package servicebus_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// Every metric the Grafana dashboard's queries name exists in a registry
// after calls and an error.
func TestDashboardQueriesNameRegisteredMetrics(t *testing.T) {
	_, reg, _ := observedNode(t)
	got := gathered(t, reg)
	data, err := os.ReadFile("docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	queries := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			queries++
			names := metricNameRE.FindAllString(target.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no servicebus metric", p.Title, target.Expr)
			}
			for _, n := range names {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && got[b] {
						base = b
					}
				}
				if !got[base] {
					t.Errorf("panel %q: %s is not a registered metric", p.Title, n)
				}
			}
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, want := range []string{"servicebus_sender_calls_total", "servicebus_sender_call_duration_seconds_bucket",
		"servicebus_sender_remote_errors_total", "servicebus_broker_up", "servicebus_broker_reconnects_total",
		"servicebus_publish_total", "servicebus_sender_inflight", "servicebus_agent_inflight"} {
		if !slices.Contains(metricNameRE.FindAllString(string(data), -1), want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
