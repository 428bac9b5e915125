package metrics

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Roles of a broker connection: the role label of servicebus_broker_*.
const (
	RoleAgent  = "agent"
	RoleSender = "sender"
	// RolePublisher is a failover.Publisher's connection (PublisherObserver).
	RolePublisher = "publisher"
)

// Options change what New registers.
type Options struct {
	// Node, if set, is added as the label node to every metric: for
	// registries that several nodes share. Usually the scrape's own
	// labels say which process it is, and Node stays empty.
	Node string
}

// Metrics are the servicebus collectors registered on one Registerer.
type Metrics struct {
	reg    prometheus.Registerer
	sender *senderMetrics
	probes *prometheus.HistogramVec
	probeF *prometheus.CounterVec
	pull   *pullCollector
}

// durationBuckets are the buckets of every latency histogram, in
// seconds: from a local round trip to a call timeout.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New registers the servicebus metrics on reg, or reuses those already
// registered there by an earlier New.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil Registerer")
	}
	if opts.Node != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": opts.Node}, reg)
	}
	r := registrar{reg: reg}
	m := &Metrics{reg: reg}
	m.sender = newSenderMetrics(&r)
	m.probes = register(&r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "servicebus_broker_probe_duration_seconds",
		Help:    "Round trip of the health probes of each broker connection.",
		Buckets: durationBuckets,
	}, []string{"broker", "role"}))
	m.probeF = register(&r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "servicebus_broker_probe_failures_total",
		Help: "Health probes that failed or got no answer in time; each closes the connection.",
	}, []string{"broker", "role"}))
	m.pull = register(&r, newPullCollector())
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// registrar registers collectors and keeps the first error.
type registrar struct {
	reg prometheus.Registerer
	err error
}

// register registers c, or returns the collector of the same
// description registered before.
func register[C prometheus.Collector](r *registrar, c C) C {
	err := r.reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old
		}
	}
	if r.err == nil {
		r.err = fmt.Errorf("metrics: %w", err)
	}
	return c
}

// ProbeFunc is a router.Config.OnProbe (and what rpc.Observer.Probed does)
// for connections of role.
func (m *Metrics) ProbeFunc(role string) func(broker string, took time.Duration, err error) {
	var mu sync.Mutex
	type pair struct {
		took prometheus.Observer
		fail prometheus.Counter
	}
	cache := map[string]pair{}
	return func(broker string, took time.Duration, err error) {
		mu.Lock()
		p, ok := cache[broker]
		if !ok {
			p = pair{m.probes.WithLabelValues(broker, role), m.probeF.WithLabelValues(broker, role)}
			cache[broker] = p
		}
		mu.Unlock()
		if err != nil {
			p.fail.Inc()
			return
		}
		p.took.Observe(took.Seconds())
	}
}
