package metrics

import (
	"errors"
	"slices"
	"sync"

	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// pullCollector reads, at each scrape, the counters and states that the
// agents, senders and publishers keep anyway.
type pullCollector struct {
	mu      sync.Mutex
	agents  []*router.Agent
	sources []pathSource // senders and publishers
	// retired sums the counters of the agents closed so far: an agent is let
	// go at its Close, and its counts stay in the totals, which never go
	// down.
	retired   router.Stats
	hadAgents bool // an agent was added: the agent metrics are exported
}

func newPullCollector() *pullCollector { return &pullCollector{} }

// labelled is one label value of an agent counter, with the router.Stats
// counter behind it.
type labelled struct {
	value string
	count func(router.Stats) uint64
}

// The label values of servicebus_agent_rejected_total (reason),
// servicebus_agent_replies_total and servicebus_agent_settled_total
// (outcome).
var (
	rejectReasons = []labelled{
		{"decode", func(s router.Stats) uint64 { return s.Malformed }},
		{"token", func(s router.Stats) uint64 { return s.BadToken }},
		{"deadline", func(s router.Stats) uint64 { return s.DeadlineExceeded }},
		{"unknown_service", func(s router.Stats) uint64 { return s.UnknownService }},
		{"too_large", func(s router.Stats) uint64 { return s.TooLarge }},
		{"unreadable", func(s router.Stats) uint64 { return s.Unreadable }},
		{"poison", func(s router.Stats) uint64 { return s.Poisoned }},
	}
	replyOutcomes = []labelled{
		{"published", func(s router.Stats) uint64 { return s.Replies }},
		{"failed", func(s router.Stats) uint64 { return s.ReplyFailures }},
	}
	settleOutcomes = []labelled{
		{"acked", func(s router.Stats) uint64 { return s.Acked }},
		{"requeued", func(s router.Stats) uint64 { return s.Requeued }},
		{"rejected", func(s router.Stats) uint64 { return s.Rejected }},
	}
)

var (
	descBrokerUp = prometheus.NewDesc("servicebus_broker_up",
		"1 while the broker connection is up and set up (an agent consumes on it, a sender or publisher can publish on it), else 0.",
		[]string{"broker", "role"}, nil)
	descReconnects = prometheus.NewDesc("servicebus_broker_reconnects_total",
		"Connections to the broker set up again after the first one.", []string{"broker", "role"}, nil)
	descAgentInflight = prometheus.NewDesc("servicebus_agent_inflight",
		"Deliveries the agent is working on now.", nil, nil)
	descAgentConsuming = prometheus.NewDesc("servicebus_agent_consuming_brokers",
		"Brokers whose node queue the agent consumes now.", nil, nil)
	descAgentReceived = prometheus.NewDesc("servicebus_agent_received_total",
		"Deliveries handed to the agent's handlers.", nil, nil)
	descAgentRejected = prometheus.NewDesc("servicebus_agent_rejected_total",
		"Deliveries refused before any service ran, by reason (an RPC is still answered with an error).", []string{"reason"}, nil)
	descAgentRedeliveries = prometheus.NewDesc("servicebus_agent_redeliveries_total",
		"Deliveries the broker marked redelivered.", nil, nil)
	descAgentServiceErrors = prometheus.NewDesc("servicebus_agent_service_errors_total",
		"Services that returned an error (after retries) or panicked.", nil, nil)
	descAgentReplies = prometheus.NewDesc("servicebus_agent_replies_total",
		"RPC replies, by outcome: published (the broker confirmed it) or failed (not published or not confirmed, or no valid reply_to).",
		[]string{"outcome"}, nil)
	descAgentSettled = prometheus.NewDesc("servicebus_agent_settled_total",
		"Deliveries settled with the broker, by outcome: acked, requeued (given back: a failed reply, shutdown) or rejected (not requeued; dead-lettered where the queue has a dead-letter exchange).",
		[]string{"outcome"}, nil)
)

func (c *pullCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBrokerUp, descReconnects, descAgentInflight, descAgentConsuming,
		descAgentReceived, descAgentRejected, descAgentRedeliveries, descAgentServiceErrors, descAgentReplies, descAgentSettled} {
		ch <- d
	}
}

type brokerKey struct{ broker, role string }

func (c *pullCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	agents := append([]*router.Agent(nil), c.agents...)
	sum, hadAgents := c.retired, c.hadAgents
	// A sender or publisher whose every connection is closed is gone:
	// forget it.
	type read struct {
		role   string
		states []pathState
	}
	var reads []read
	sources := c.sources[:0]
	for _, src := range c.sources {
		if states := src.status(); !allClosed(states) {
			sources = append(sources, src)
			reads = append(reads, read{src.role, states})
		}
	}
	clear(c.sources[len(sources):])
	c.sources = sources
	c.mu.Unlock()

	up := map[brokerKey]float64{}
	reconnects := map[brokerKey]float64{}
	var order []brokerKey
	add := func(k brokerKey, isUp bool, connects int) {
		if _, ok := up[k]; !ok {
			order = append(order, k)
			up[k] = 0
		}
		if isUp {
			up[k] = 1
		}
		if connects > 1 {
			reconnects[k] += float64(connects - 1)
		}
	}
	for _, r := range reads {
		for _, st := range r.states {
			add(brokerKey{st.endpoint, r.role}, st.ready, st.connects)
		}
	}
	if hadAgents {
		for _, a := range agents {
			for _, b := range a.Brokers() {
				add(brokerKey{b.Broker, RoleAgent}, b.Consuming, b.Connects)
			}
			addStats(&sum, a.Stats())
		}
		ch <- prometheus.MustNewConstMetric(descAgentInflight, prometheus.GaugeValue, float64(sum.InFlight))
		ch <- prometheus.MustNewConstMetric(descAgentConsuming, prometheus.GaugeValue, float64(sum.Consuming))
		ch <- prometheus.MustNewConstMetric(descAgentReceived, prometheus.CounterValue, float64(sum.Received))
		counters(ch, descAgentRejected, rejectReasons, sum)
		ch <- prometheus.MustNewConstMetric(descAgentRedeliveries, prometheus.CounterValue, float64(sum.Redelivered))
		ch <- prometheus.MustNewConstMetric(descAgentServiceErrors, prometheus.CounterValue, float64(sum.ServiceErrors))
		counters(ch, descAgentReplies, replyOutcomes, sum)
		counters(ch, descAgentSettled, settleOutcomes, sum)
	}
	for _, k := range order {
		ch <- prometheus.MustNewConstMetric(descBrokerUp, prometheus.GaugeValue, up[k], k.broker, k.role)
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, reconnects[k], k.broker, k.role)
	}
}

// counters sends one counter of desc for each label value, read from sum.
func counters(ch chan<- prometheus.Metric, desc *prometheus.Desc, values []labelled, sum router.Stats) {
	for _, v := range values {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v.count(sum)), v.value)
	}
}

// addStats adds the agent counters of s to sum, and its gauges.
func addStats(sum *router.Stats, s router.Stats) {
	sum.InFlight += s.InFlight
	sum.Consuming += s.Consuming
	sum.Received += s.Received
	sum.Malformed += s.Malformed
	sum.BadToken += s.BadToken
	sum.DeadlineExceeded += s.DeadlineExceeded
	sum.UnknownService += s.UnknownService
	sum.TooLarge += s.TooLarge
	sum.Unreadable += s.Unreadable
	sum.Poisoned += s.Poisoned
	sum.Replies += s.Replies
	sum.ReplyFailures += s.ReplyFailures
	sum.Acked += s.Acked
	sum.Requeued += s.Requeued
	sum.Rejected += s.Rejected
	sum.Redelivered += s.Redelivered
	sum.ServiceErrors += s.ServiceErrors + s.Panics
}

// retire lets a closed agent go, keeping its counts in the totals; what it
// had in flight and consumed is over.
func (c *pullCollector) retire(a *router.Agent) {
	s := a.Stats()
	s.InFlight, s.Consuming = 0, 0
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.agents, a)
	if i < 0 {
		return
	}
	c.agents = slices.Delete(c.agents, i, i+1)
	addStats(&c.retired, s)
}

// A pathSource is the brokers of a sender or a publisher, read at each
// scrape.
type pathSource struct {
	role   string
	status func() []pathState
}

type pathState struct {
	endpoint string
	ready    bool
	connects int
	err      error
}

// allClosed: every connection ended with its owner's Close.
func allClosed(states []pathState) bool {
	for _, st := range states {
		if !errors.Is(st.err, broker.ErrClosed) {
			return false
		}
	}
	return true
}

// AddAgent exports a's counters, the state of its brokers, and
// Watermill's per-handler execution time on its router (handler_name
// rpc:CAT.NAME and message:CAT.NAME). Call it before a.Start; probes are
// measured when router.Config.OnProbe is ProbeFunc(RoleAgent). At a.Close
// the agent is let go: its brokers leave servicebus_broker_up, and its
// counts stay in the totals.
//
// Watermill's subscriber and publisher decorators are left out: the
// subscriber's puts every delivery through one more goroutine and channel,
// and what they count the agent's own counters count already.
func (m *Metrics) AddAgent(a *router.Agent) {
	m.pull.mu.Lock()
	m.pull.agents = append(m.pull.agents, a)
	m.pull.hadAgents = true
	m.pull.mu.Unlock()
	a.OnExit(func() { m.pull.retire(a) })
	a.Router().AddMiddleware(metrics.NewPrometheusMetricsBuilder(m.reg, "servicebus", "").NewRouterMiddleware().Middleware)
}

// AddSender exports the state of s's brokers until s is closed; its calls
// are measured when rpc.Config.Observer is SenderObserver().
func (m *Metrics) AddSender(s *rpc.Sender) {
	m.addSource(RoleSender, func() []pathState {
		var out []pathState
		for _, st := range s.Status() {
			out = append(out, pathState{st.Endpoint, st.Ready, st.Connects, st.Err})
		}
		return out
	})
}

// AddPublisher exports the state of p's brokers (servicebus_broker_up and
// reconnects, role "publisher") until p is closed; its publishes are
// measured when failover.PublisherConfig.Observer is PublisherObserver().
func (m *Metrics) AddPublisher(p *failover.Publisher) {
	m.addSource(RolePublisher, func() []pathState {
		var out []pathState
		for _, st := range p.Status() {
			out = append(out, pathState{st.Endpoint, st.Ready, st.Connects, st.Err})
		}
		return out
	})
}

func (m *Metrics) addSource(role string, status func() []pathState) {
	m.pull.mu.Lock()
	defer m.pull.mu.Unlock()
	m.pull.sources = append(m.pull.sources, pathSource{role, status})
}
