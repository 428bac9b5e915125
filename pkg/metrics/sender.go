package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// senderMetrics are the vectors behind a Sender's Observer.
type senderMetrics struct {
	calls, sends, pings *prometheus.CounterVec
	callTime, sendTime  *prometheus.HistogramVec
	pingTime            prometheus.Histogram
	remoteErrors        *prometheus.CounterVec
	inflight            *prometheus.GaugeVec
	publishes           *prometheus.CounterVec
	confirmTime         *prometheus.HistogramVec
}

func newSenderMetrics(r *registrar) *senderMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: durationBuckets}, labels))
	}
	return &senderMetrics{
		calls:        counter("servicebus_sender_calls_total", "RPC calls a sender made, by how they ended.", "category", "service", "outcome"),
		sends:        counter("servicebus_sender_sends_total", "Messages a sender sent, by how they ended.", "category", "service", "outcome"),
		pings:        counter("servicebus_sender_pings_total", "Pings a sender made, by how they ended.", "outcome"),
		callTime:     histogram("servicebus_sender_call_duration_seconds", "Time from Call to its reply or failure.", "category", "service"),
		sendTime:     histogram("servicebus_sender_send_duration_seconds", "Time from Send to the broker's confirm or the failure.", "category", "service"),
		pingTime:     register(r, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "servicebus_sender_ping_duration_seconds", Help: "Round trip of pings that were answered.", Buckets: durationBuckets})),
		remoteErrors: counter("servicebus_sender_remote_errors_total", "Calls the agent answered with an error, by its code.", "category", "service", "code"),
		inflight: register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "servicebus_sender_inflight", Help: "Calls, sends and pings under way.",
		}, []string{"kind"})),
		publishes:   counter("servicebus_publish_total", "Publish attempts on each broker, by outcome.", "broker", "outcome"),
		confirmTime: histogram("servicebus_publish_confirm_duration_seconds", "Time from a publish to the broker's confirm.", "broker"),
	}
}

// SenderObserver is the rpc.Config.Observer that feeds these metrics.
func (m *Metrics) SenderObserver() rpc.Observer {
	o := &senderObserver{
		publishObserver: m.publishObserver(RoleSender),
		services:        map[serviceKey]*serviceMetrics{},
	}
	o.inflight[0] = m.sender.inflight.WithLabelValues(rpc.KindCall)
	o.inflight[1] = m.sender.inflight.WithLabelValues(rpc.KindSend)
	o.inflight[2] = m.sender.inflight.WithLabelValues(rpc.KindPing)
	return o
}

type serviceKey struct {
	send           bool
	category, name string
}

// serviceMetrics are the metrics of one service, resolved once.
type serviceMetrics struct {
	outcomes [len(outcomes)]prometheus.Counter
	took     prometheus.Observer
}

var outcomes = [...]string{rpc.OutcomeOK, rpc.OutcomeRemoteError, rpc.OutcomeTimeout, rpc.OutcomeNoRoute, rpc.OutcomeUnavailable}

type brokerMetrics struct {
	outcomes map[string]prometheus.Counter
	confirm  prometheus.Observer
}

// senderObserver resolves each label set once, so that a call costs
// map lookups and atomic adds, no allocation.
type senderObserver struct {
	*publishObserver // and its m, the sender's metrics
	inflight         [3]prometheus.Gauge

	mu       sync.RWMutex // guards services and pings; publishObserver.mu guards its brokers
	services map[serviceKey]*serviceMetrics
	pings    *serviceMetrics
}

// PublisherObserver is the failover.PublisherConfig.Observer that feeds
// servicebus_publish_total, servicebus_publish_confirm_duration_seconds and
// the probe metrics (role "publisher") from a failover.Publisher.
func (m *Metrics) PublisherObserver() failover.Observer { return m.publishObserver(RolePublisher) }

// publishObserver feeds the publishing metrics from the attempts of one
// sender or publisher, and the probe metrics of its connections (role).
type publishObserver struct {
	m     *senderMetrics
	probe func(string, time.Duration, error)

	mu      sync.RWMutex
	brokers map[string]*brokerMetrics
}

func (m *Metrics) publishObserver(role string) *publishObserver {
	return &publishObserver{m: m.sender, probe: m.ProbeFunc(role), brokers: map[string]*brokerMetrics{}}
}

func kindIndex(kind string) int {
	switch kind {
	case rpc.KindCall:
		return 0
	case rpc.KindSend:
		return 1
	}
	return 2
}

func (o *senderObserver) Began(kind string, _ rpc.Target) { o.inflight[kindIndex(kind)].Inc() }

func (o *senderObserver) Ended(kind string, t rpc.Target, outcome string, err error, took time.Duration) {
	o.inflight[kindIndex(kind)].Dec()
	sm := o.service(kind, t)
	for i, name := range outcomes {
		if name == outcome {
			sm.outcomes[i].Inc()
			break
		}
	}
	if kind == rpc.KindPing && outcome != rpc.OutcomeOK {
		return
	}
	sm.took.Observe(took.Seconds())
	if kind == rpc.KindCall && outcome == rpc.OutcomeRemoteError {
		o.remoteError(t, err)
	}
}

// remoteError counts a remote error by its code; apart so that the
// error's target escapes only on this path.
func (o *senderObserver) remoteError(t rpc.Target, err error) {
	var remote *rpc.RemoteError
	if errors.As(err, &remote) {
		o.m.remoteErrors.WithLabelValues(t.Category, t.Name, codeLabel(remote.Code)).Inc()
	}
}

// codeLabel keeps the code label bounded: a code servicebus does not
// define (a user's own, or a peer's invention) counts as "other".
func codeLabel(c codec.ErrorCode) string {
	switch c {
	case codec.CodeUnknownService, codec.CodeBadToken, codec.CodeBadRequest, codec.CodeServiceError,
		codec.CodePanic, codec.CodeDeadlineExceeded, codec.CodeUnavailable:
		return string(c)
	}
	return "other"
}

func (o *senderObserver) service(kind string, t rpc.Target) *serviceMetrics {
	key := serviceKey{send: kind == rpc.KindSend, category: t.Category, name: t.Name}
	o.mu.RLock()
	sm := o.services[key]
	if kind == rpc.KindPing {
		sm = o.pings
	}
	o.mu.RUnlock()
	if sm != nil {
		return sm
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	sm = &serviceMetrics{}
	switch kind {
	case rpc.KindPing:
		if o.pings != nil {
			return o.pings
		}
		for i, name := range outcomes {
			sm.outcomes[i] = o.m.pings.WithLabelValues(name)
		}
		sm.took = o.m.pingTime
		o.pings = sm
		return sm
	case rpc.KindSend:
		for i, name := range outcomes {
			sm.outcomes[i] = o.m.sends.WithLabelValues(t.Category, t.Name, name)
		}
		sm.took = o.m.sendTime.WithLabelValues(t.Category, t.Name)
	default:
		for i, name := range outcomes {
			sm.outcomes[i] = o.m.calls.WithLabelValues(t.Category, t.Name, name)
		}
		sm.took = o.m.callTime.WithLabelValues(t.Category, t.Name)
	}
	if old := o.services[key]; old != nil {
		return old
	}
	o.services[key] = sm
	return sm
}

func (o *publishObserver) Attempted(broker, outcome string, took time.Duration) {
	o.mu.RLock()
	bm := o.brokers[broker]
	o.mu.RUnlock()
	if bm == nil {
		o.mu.Lock()
		if bm = o.brokers[broker]; bm == nil {
			bm = &brokerMetrics{outcomes: map[string]prometheus.Counter{}, confirm: o.m.confirmTime.WithLabelValues(broker)}
			for _, name := range publishOutcomes {
				bm.outcomes[name] = o.m.publishes.WithLabelValues(broker, name)
			}
			o.brokers[broker] = bm
		}
		o.mu.Unlock()
	}
	if c := bm.outcomes[outcome]; c != nil {
		c.Inc()
	}
	if outcome == publish.OutcomeConfirmed {
		bm.confirm.Observe(took.Seconds())
	}
}

var publishOutcomes = [...]string{publish.OutcomeConfirmed, publish.OutcomeNacked, publish.OutcomeReturned,
	publish.OutcomeTimeout, publish.OutcomeBlocked, publish.OutcomeUnavailable}

func (o *publishObserver) Probed(broker string, took time.Duration, err error) {
	o.probe(broker, took, err)
}
