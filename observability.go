package servicebus

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// metricsFor registers the servicebus metrics on the config's Registerer;
// nil when there is none. With metrics_addr and no Registerer, the config
// gets a registry of its own first (with Go's and the process's
// collectors), so that what is made from it shares that one.
func (c *Config) metricsFor() (*metrics.Metrics, error) {
	if c.Registerer == nil && c.MetricsAddr != "" {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		c.Registerer = r
	}
	if c.Registerer == nil {
		return nil, nil
	}
	return metrics.New(c.Registerer, metrics.Options{})
}

// serveMetrics makes the agent serve /metrics, /healthz and /readyz on
// metrics_addr while it runs: from Start until Close has drained it.
// /readyz is 200 while the agent consumes on at least one broker.
func serveMetrics(a *router.Agent, addr string, g prometheus.Gatherer) {
	h := metrics.Handler(g, func() (bool, any) {
		brokers := a.Brokers()
		ready := false
		for _, b := range brokers {
			ready = ready || b.Consuming
		}
		return ready, readyState{Ready: ready, Brokers: brokers}
	})
	var srv *metrics.Server
	a.OnStart(func(context.Context) error {
		s, err := metrics.Serve(addr, h)
		if err != nil {
			return fmt.Errorf("servicebus: metrics_addr: %w", err)
		}
		srv = s
		return nil
	})
	a.OnExit(func() {
		if srv != nil {
			_ = srv.Close()
		}
	})
}

// readyState is the JSON body of /readyz.
type readyState struct {
	Ready   bool                 `json:"ready"`
	Brokers []router.BrokerState `json:"brokers"`
}
