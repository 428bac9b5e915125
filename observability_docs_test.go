package servicebus_test

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricNameRE finds metric names in docs and PromQL.
var metricNameRE = regexp.MustCompile(`servicebus_[a-z_]+`)

// gathered is the set of servicebus metric names reg holds.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "servicebus_") {
			names[f.GetName()] = true
		}
	}
	return names
}

// docs/metrics.md lists exactly the metrics an agent, a sender and a
// udplog collector register once they worked: a metric added or renamed
// without its documentation fails here.
func TestDocsListEveryMetric(t *testing.T) {
	_, reg, _ := observedNode(t)
	got := gathered(t, reg)
	data, err := os.ReadFile("docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		// A metric's row: | `servicebus_name` | type | labels | meaning |
		if name, ok := strings.CutPrefix(line, "| `servicebus_"); ok {
			name, _, _ = strings.Cut(name, "`")
			documented["servicebus_"+name] = true
		}
	}
	var missing, extra []string
	for n := range got {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !got[n] {
			extra = append(extra, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("registered but not in docs/metrics.md: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in docs/metrics.md but not registered: %v", extra)
	}
}
