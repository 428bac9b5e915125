package metrics_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

// A call's metrics cost no allocation once its service was seen: the label
// sets are resolved once, and naming a call's outcome allocates nothing.
func TestSenderObserverAllocatesNothingPerCall(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := m.SenderObserver()
	target := rpc.Target{Node: "N", Category: "math", Name: "add"}
	call := func() {
		o.Began(rpc.KindCall, target)
		o.Attempted("amqp://b/", "confirmed", time.Millisecond)
		o.Ended(rpc.KindCall, target, rpc.OutcomeOf(nil), nil, 2*time.Millisecond)
	}
	call()
	if n := testing.AllocsPerRun(1000, call); n != 0 {
		t.Errorf("%v allocations per observed call, want 0", n)
	}
}

// Outcomes, remote error codes and in-flight calls land on their labels; a
// code servicebus does not define is "other", so a peer cannot grow the
// label set.
func TestSenderObserverLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{Node: "N1"})
	if err != nil {
		t.Fatal(err)
	}
	o := m.SenderObserver()
	add := rpc.Target{Node: "N", Category: "math", Name: "add"}
	o.Began(rpc.KindCall, add)
	o.Ended(rpc.KindCall, add, rpc.OutcomeOf(&rpc.RemoteError{Code: codec.CodeBadToken}), &rpc.RemoteError{Code: codec.CodeBadToken}, time.Millisecond)
	o.Began(rpc.KindCall, add)
	o.Ended(rpc.KindCall, add, rpc.OutcomeRemoteError, &rpc.RemoteError{Code: "made_up_by_a_peer"}, time.Millisecond)
	o.Began(rpc.KindCall, add)
	o.Ended(rpc.KindCall, add, rpc.OutcomeOf(rpc.ErrNoRoute), rpc.ErrNoRoute, time.Millisecond)
	o.Began(rpc.KindSend, add)

	// A second New on the same registry shares the metrics.
	m2, err := metrics.New(reg, metrics.Options{Node: "N1"})
	if err != nil {
		t.Fatal(err)
	}
	m2.SenderObserver().Began(rpc.KindSend, add)

	want := `
# HELP servicebus_sender_calls_total RPC calls a sender made, by how they ended.
# TYPE servicebus_sender_calls_total counter
servicebus_sender_calls_total{category="math",node="N1",outcome="no_route",service="add"} 1
servicebus_sender_calls_total{category="math",node="N1",outcome="ok",service="add"} 0
servicebus_sender_calls_total{category="math",node="N1",outcome="remote_error",service="add"} 2
servicebus_sender_calls_total{category="math",node="N1",outcome="timeout",service="add"} 0
servicebus_sender_calls_total{category="math",node="N1",outcome="unavailable",service="add"} 0
# HELP servicebus_sender_remote_errors_total Calls the agent answered with an error, by its code.
# TYPE servicebus_sender_remote_errors_total counter
servicebus_sender_remote_errors_total{category="math",code="bad_token",node="N1",service="add"} 1
servicebus_sender_remote_errors_total{category="math",code="other",node="N1",service="add"} 1
# HELP servicebus_sender_inflight Calls, sends and pings under way.
# TYPE servicebus_sender_inflight gauge
servicebus_sender_inflight{kind="call",node="N1"} 0
servicebus_sender_inflight{kind="ping",node="N1"} 0
servicebus_sender_inflight{kind="send",node="N1"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"servicebus_sender_calls_total", "servicebus_sender_remote_errors_total", "servicebus_sender_inflight"); err != nil {
		t.Error(err)
	}
}

func TestOutcomeOf(t *testing.T) {
	for err, want := range map[error]string{
		nil:                    rpc.OutcomeOK,
		&rpc.RemoteError{}:     rpc.OutcomeRemoteError,
		rpc.ErrNoRoute:         rpc.OutcomeNoRoute,
		rpc.ErrTimeout:         rpc.OutcomeTimeout,
		rpc.ErrConnectionLost:  rpc.OutcomeUnavailable,
		rpc.ErrClosed:          rpc.OutcomeUnavailable,
		errors.New("whatever"): rpc.OutcomeUnavailable,
	} {
		if got := rpc.OutcomeOf(err); got != want {
			t.Errorf("OutcomeOf(%v) = %s, want %s", err, got, want)
		}
	}
}

// /readyz follows the Readiness: 200 while ready, 503 otherwise, with the
// state as JSON both times; /healthz is 200; /metrics is the registry.
func TestHandlerServesHealthReadinessAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "servicebus_test_total", Help: "x"}))
	var ready atomic.Bool
	srv, err := metrics.Serve("127.0.0.1:0", metrics.Handler(reg, func() (bool, any) {
		return ready.Load(), map[string]bool{"ready": ready.Load()}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "{\"ready\":false}\n" {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	ready.Store(true)
	if code, body := get("/readyz"); code != http.StatusOK || body != "{\"ready\":true}\n" {
		t.Errorf("/readyz ready: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "servicebus_test_total 0") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// Only answered pings are timed, every call is, whatever its outcome; a
// ping is counted on its own series, never as a service; pings of
// different nodes share it.
func TestSenderObserverTimesAnsweredPingsAndEveryCall(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := m.SenderObserver()
	add := rpc.Target{Node: "N", Category: "math", Name: "add"}
	for _, p := range []struct {
		node    string
		outcome string
	}{{"A", rpc.OutcomeTimeout}, {"A", rpc.OutcomeOK}, {"B", rpc.OutcomeOK}} {
		ping := rpc.Target{Node: p.node}
		o.Began(rpc.KindPing, ping)
		o.Ended(rpc.KindPing, ping, p.outcome, nil, time.Millisecond)
	}
	o.Began(rpc.KindCall, add)
	o.Ended(rpc.KindCall, add, rpc.OutcomeTimeout, rpc.ErrTimeout, time.Second)
	o.Began(rpc.KindCall, add)
	o.Ended(rpc.KindCall, add, rpc.OutcomeOK, nil, time.Millisecond)

	for name, want := range map[string]float64{
		"servicebus_sender_ping_duration_seconds": 2, // the two answered
		"servicebus_sender_call_duration_seconds": 2, // the timeout too
	} {
		if got, err := histogramCount(reg, name); err != nil || got != want {
			t.Errorf("%s: %v observations (%v), want %v", name, got, err, want)
		}
	}
	want := `
# HELP servicebus_sender_pings_total Pings a sender made, by how they ended.
# TYPE servicebus_sender_pings_total counter
servicebus_sender_pings_total{outcome="no_route"} 0
servicebus_sender_pings_total{outcome="ok"} 2
servicebus_sender_pings_total{outcome="remote_error"} 0
servicebus_sender_pings_total{outcome="timeout"} 1
servicebus_sender_pings_total{outcome="unavailable"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "servicebus_sender_pings_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "servicebus_sender_calls_total"); err != nil || n != 5 {
		t.Errorf("%d call series (%v), want the 5 outcomes of math.add alone (no ping among them)", n, err)
	}
}

// The confirm latency is observed for confirmed publishes only: a nack or a
// return has no confirm time.
func TestPublisherObserverTimesConfirmsOnly(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := m.PublisherObserver()
	o.Attempted("amqp://b/", "nacked", time.Millisecond)
	o.Attempted("amqp://b/", "returned", time.Millisecond)
	o.Attempted("amqp://b/", "confirmed", time.Millisecond)
	if got, err := histogramCount(reg, "servicebus_publish_confirm_duration_seconds"); err != nil || got != 1 {
		t.Errorf("confirm latency observed %v times (%v), want once, for the confirmed publish", got, err)
	}
}

// histogramCount is the sum of the sample counts of every series of the
// histogram name in reg.
func histogramCount(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var n float64
		for _, m := range mf.GetMetric() {
			n += float64(m.GetHistogram().GetSampleCount())
		}
		return n, nil
	}
	return 0, errors.New("no such metric")
}

// A client that sends part of a request header and stalls is cut off by
// the metrics server (its header timeout is 5 s), and scrapes meanwhile
// are served: a peer that opens connections and says nothing cannot pin
// the server's goroutines and sockets for good.
func TestMetricsServerCutsOffAStalledRequestHeader(t *testing.T) {
	s, err := metrics.Serve("127.0.0.1:0", metrics.Handler(prometheus.NewRegistry(), nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("healthz during the stall: %s", resp.Status)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(15 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the stalled connection was still open after %v", time.Since(start).Round(time.Second))
	}
	// Closed, silently or with a 408, never with an answer to the request.
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Errorf("the server answered a request whose header never ended: %q", got)
	}
}
