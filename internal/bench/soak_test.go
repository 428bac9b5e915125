package bench

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// sample is a soak sample at second s with the same gauges on both sides.
func sample(s int, rss, heap, goroutines uint64) Sample {
	u := Usage{RSS: rss, LiveHeap: heap, Goroutines: goroutines}
	server := u
	return Sample{Elapsed: time.Duration(s) * time.Second, Caller: u, Server: &server}
}

func TestJudgeAcceptsGaugesWithinTheToleranceAfterTheWarmup(t *testing.T) {
	samples := []Sample{
		sample(0, 10, 1, 10), // warm-up: far below, not judged
		sample(10, 100, 50, 200),
		sample(20, 109, 46, 181),
		sample(30, 91, 54, 219),
	}
	judged, drift := judge(samples, 10*time.Second, 0.10)
	if judged != 3 || len(drift) != 0 {
		t.Errorf("judged %d, drift %q; want 3 judged, none", judged, drift)
	}
}

func TestJudgeNamesEachGaugeThatDrifted(t *testing.T) {
	samples := []Sample{sample(10, 100, 50, 200), sample(20, 105, 50, 200), sample(30, 111, 50, 200)}
	samples[2].Server.LiveHeap = 40 // -20 %
	_, drift := judge(samples, 0, 0.10)
	want := []string{"caller RSS: 111 at 30s is +11.0% of 100 at 10s", "server RSS: 111 at 30s is +11.0%", "server live heap: 40 at 30s is -20.0% of 50"}
	if len(drift) != len(want) {
		t.Fatalf("drift %q, want %d lines", drift, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(drift[i], w) {
			t.Errorf("drift[%d] = %q, want it to start %q", i, drift[i], w)
		}
	}
}

func TestJudgeNeedsTwoSamplesAfterTheWarmup(t *testing.T) {
	if judged, drift := judge([]Sample{sample(0, 1, 1, 1), sample(70, 1, 1, 1)}, time.Minute, 0.1); judged != 1 || len(drift) != 1 {
		t.Errorf("judged %d, drift %q: one sample cannot show flatness", judged, drift)
	}
}

func TestSoakSamplesBothProcessesWhileCalling(t *testing.T) {
	url := brokerURL(t)
	suffix := randomSuffix()
	var seen int
	rep, err := Soak(context.Background(), Options{URL: url, Timeout: 10 * time.Second, ServerCommand: testServerCommand, Suffix: suffix},
		SoakOptions{Mode: ModeRPC, Impl: ImplServicebus, Concurrency: 8, N: 600, Interval: 20 * time.Millisecond,
			// A test cannot wait for a real warm-up; what it checks is
			// that samples of both sides come, not that they are flat.
			Warmup: 0, Tolerance: 1000, OnSample: func(Sample) { seen++ }})
	if err != nil && !errors.Is(err, ErrNotFlat) {
		t.Fatal(err)
	}
	if rep.Calls != 600 || rep.CallsPerS <= 0 {
		t.Errorf("%d calls at %v calls/s, want 600", rep.Calls, rep.CallsPerS)
	}
	if len(rep.Samples) < 2 || seen != len(rep.Samples) {
		t.Fatalf("%d samples, %d seen by OnSample: want the one at the start and more while calling", len(rep.Samples), seen)
	}
	t.Logf("%d calls in %v, %d samples", rep.Calls, rep.Wall, len(rep.Samples))
	last := rep.Samples[len(rep.Samples)-1]
	if last.Calls == 0 || last.Server == nil {
		t.Fatalf("last sample %+v: want calls counted and a server side", last)
	}
	for side, u := range map[string]Usage{"caller": last.Caller, "server": *last.Server} {
		if u.RSS == 0 || u.LiveHeap == 0 || u.Goroutines == 0 {
			t.Errorf("%s side %+v: want RSS, live heap and goroutines", side, u)
		}
	}
	if errors.Is(err, ErrNotFlat) != (len(rep.Drift) > 0) {
		t.Errorf("err %v with drift %q", err, rep.Drift)
	}
	requireNoQueues(t, url, suffix)
}

func TestTrendsGiveRangeAndSlopePerMinute(t *testing.T) {
	// After a warm-up spike the caller's live heap is 1000, 1300, 1200,
	// 1900 at 30 s steps: least squares, 650/1.25 = 520 a minute. The
	// server's stays at 50.
	var samples []Sample
	for i, heap := range []uint64{5000, 1000, 1300, 1200, 1900} {
		smp := sample(30*i, 100, heap, 10)
		smp.Server.LiveHeap = 50
		samples = append(samples, smp)
	}
	got := map[string]Trend{}
	for _, tr := range trends(samples, 30*time.Second) {
		got[tr.Gauge] = tr
	}
	if len(got) != 6 {
		t.Fatalf("%d trends, want 6 gauges: %+v", len(got), got)
	}
	heap := got["caller live heap"]
	if heap.First != 1000 || heap.Min != 1000 || heap.Max != 1900 || heap.Last != 1900 || math.Abs(heap.PerMinute-520) > 1e-9 {
		t.Errorf("caller live heap %+v, want 1000..1900 rising 520 a minute", heap)
	}
	if flat := got["server live heap"]; flat.PerMinute != 0 || flat.Min != 50 || flat.Max != 50 {
		t.Errorf("server live heap %+v, want flat at 50", flat)
	}
}
