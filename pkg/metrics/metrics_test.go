package metrics_test

import (
	"errors"
	"io"
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
