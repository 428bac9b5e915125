//go:build faults

package faulttest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// payload is what every test sends: a sequence number unique in the test.
type payload struct {
	Seq int `json:"seq"`
}

// endpoints turns URLs into endpoints; hb > 0 sets the heartbeat.
func endpoints(hb time.Duration, urls ...string) []broker.Endpoint {
	eps := make([]broker.Endpoint, len(urls))
	for i, u := range urls {
		eps[i] = broker.Endpoint{URL: u, Heartbeat: hb, DialTimeout: 3 * time.Second}
	}
	return eps
}

func brokerOf(url string) string { return broker.Endpoint{URL: url}.String() }

// startAgent builds, sets up and starts an agent that is closed at cleanup.
func startAgent(t *testing.T, log *testLog, cfg router.Config, setup func(*router.Agent)) *router.Agent {
	t.Helper()
	if cfg.Tokens == nil {
		cfg.Tokens = token.NoTokens
	}
	ag, err := router.NewAgent(cfg, log.adapter("agent"))
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	setup(ag)
	if err := ag.Start(context.Background()); err != nil {
		t.Fatalf("agent Start: %v", err)
	}
	t.Cleanup(func() {
		if err := ag.Close(); err != nil {
			t.Logf("agent Close: %v", err)
		}
	})
	return ag
}

func newSender(t *testing.T, log *testLog, cfg rpc.Config) *rpc.Sender {
	t.Helper()
	if cfg.Signer == nil {
		cfg.Signer = token.NoTokens
	}
	s, err := rpc.NewSender(cfg, log.adapter("sender"))
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("sender Close: %v", err)
		}
	})
	return s
}

// servedVia calls target, a service that answers the broker its request
// came from (req.Meta.Broker), within timeout.
func servedVia(s *rpc.Sender, target string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	reply, err := s.Call(ctx, target, nil)
	if err != nil {
		return "", err
	}
	var broker string
	err = reply.Decode(&broker)
	return broker, err
}

// senderReady reports whether the sender's path i is connected and not blocked.
func senderReady(s *rpc.Sender, i int) bool { return s.Status()[i].Ready }

// healthy is broker.Path's Healthy as the sender reports it: connected and
// not blocked.
func healthy(b rpc.BrokerStatus) bool { return b.Connected && !b.Blocked }

// recorder counts what an agent's services received.
type recorder struct {
	mu         sync.Mutex
	seqs       map[int]int    // seq -> deliveries
	ids        map[string]int // event id -> deliveries
	redeliv    int
	byBroker   map[string]int
	deliveries []delivered
}

type delivered struct {
	seq    int
	broker string
	at     time.Time
	redel  bool
}

func newRecorder() *recorder {
	return &recorder{seqs: map[int]int{}, ids: map[string]int{}, byBroker: map[string]int{}}
}

func (r *recorder) add(req *router.Request) (int, error) {
	var p payload
	if err := req.Decode(&p); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs[p.Seq]++
	r.ids[req.ID]++
	r.byBroker[req.Meta.Broker]++
	if req.Meta.Redelivered {
		r.redeliv++
	}
	r.deliveries = append(r.deliveries, delivered{seq: p.Seq, broker: req.Meta.Broker, at: time.Now(), redel: req.Meta.Redelivered})
	return p.Seq, nil
}

// missing returns the seqs of want that were never received.
func (r *recorder) missing(want []int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, s := range want {
		if r.seqs[s] == 0 {
			out = append(out, s)
		}
	}
	return out
}

func (r *recorder) has(seq int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seqs[seq] > 0
}

// counts: deliveries in all, distinct seqs, distinct event ids, redelivered.
func (r *recorder) counts() (total, uniqueSeqs, uniqueIDs, redelivered int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.deliveries), len(r.seqs), len(r.ids), r.redeliv
}

// from counts deliveries from broker at or after since.
func (r *recorder) from(broker string, since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.deliveries {
		if d.broker == broker && !d.at.Before(since) {
			n++
		}
	}
	return n
}

// outcome is one Send or Call as the test saw it.
type outcome struct {
	seq        int
	start, end time.Time
	err        error
}

// longestGap is the longest time between two successive successful
// completions within [from, to].
func longestGap(outs []outcome, from, to time.Time) (gap time.Duration, at time.Time) {
	var ends []time.Time
	for _, o := range outs {
		if o.err == nil {
			ends = append(ends, o.end)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	prev := from
	for _, e := range ends {
		if e.Sub(prev) > gap {
			gap, at = e.Sub(prev), prev
		}
		prev = e
	}
	if to.Sub(prev) > gap {
		gap, at = to.Sub(prev), prev
	}
	return gap, at
}

// drive runs total operations at rate per second over workers goroutines;
// op gets the seq. onDispatch is called (in the driver goroutine) after
// each seq is handed out. It returns when every operation returned.
func drive(total, rate, workers int, onDispatch func(seq int), op func(seq int) error) []outcome {
	jobs := make(chan int, total)
	results := make(chan outcome, total)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range jobs {
				o := outcome{seq: seq, start: time.Now()}
				o.err = op(seq)
				o.end = time.Now()
				results <- o
			}
		}()
	}
	const tick = 10 * time.Millisecond
	perTick := max(1, rate/int(time.Second/tick))
	ticker := time.NewTicker(tick)
	seq := 0
	for seq < total {
		<-ticker.C
		for i := 0; i < perTick && seq < total; i++ {
			seq++
			jobs <- seq
			if onDispatch != nil {
				onDispatch(seq)
			}
		}
	}
	ticker.Stop()
	close(jobs)
	wg.Wait()
	close(results)
	outs := make([]outcome, 0, total)
	for o := range results {
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].seq < outs[j].seq })
	return outs
}

// testLog keeps the last lines the agent and sender logged, with times,
// and prints them if the test fails.
type testLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
}

const keepLogLines = 400

func newTestLog(t *testing.T) *testLog {
	l := &testLog{start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("last %d log lines of agent and sender:\n%s", len(l.lines), strings.Join(l.lines, "\n"))
		}
	})
	return l
}

func (l *testLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%8.3fs ", time.Since(l.start).Seconds()) + fmt.Sprintf(format, args...)
	if len(l.lines) >= keepLogLines {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *testLog) adapter(who string) watermill.LoggerAdapter {
	return &logAdapter{log: l, fields: watermill.LogFields{"who": who}}
}

type logAdapter struct {
	log    *testLog
	fields watermill.LogFields
}

func (a *logAdapter) emit(level, msg string, err error, f watermill.LogFields) {
	all := a.fields.Add(f)
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, all[k])
	}
	if err != nil {
		fmt.Fprintf(&b, " err=%v", err)
	}
	a.log.printf("%s %s%s", level, msg, b.String())
}

func (a *logAdapter) Error(msg string, err error, f watermill.LogFields) {
	a.emit("ERROR", msg, err, f)
}
func (a *logAdapter) Info(msg string, f watermill.LogFields)  { a.emit("INFO", msg, nil, f) }
func (a *logAdapter) Debug(msg string, f watermill.LogFields) {}
func (a *logAdapter) Trace(msg string, f watermill.LogFields) {}
func (a *logAdapter) With(f watermill.LogFields) watermill.LoggerAdapter {
	return &logAdapter{log: a.log, fields: a.fields.Add(f)}
}
