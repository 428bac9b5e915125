package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/go-servicebus/servicebus/internal/bench"
)

// printBenchTable prints the rows: throughput, latency, the ratio to the
// floor, and the cost per call of both sides together and of each.
func printBenchTable(w io.Writer, rows []bench.Row) {
	implW := len("impl")
	for _, r := range rows {
		implW = max(implW, len(r.Impl))
	}
	fmt.Fprintf(w, "%-5s %-*s %11s %10s %10s %10s %6s %9s %10s %13s %10s %13s %10s\n", "mode", implW, "impl", "concurrency",
		"calls/s", "p50", "p99", "ratio", "cpu/call", "caller cpu", "caller allocs", "server cpu", "server allocs", "broker cpu")
	for _, r := range rows {
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		serverCPU, serverAllocs := "-", "-"
		if r.Server != nil {
			serverCPU, serverAllocs = fmtMicros(r.Server.CPUusPerCall), fmt.Sprintf("%.1f", r.Server.AllocsPerCall)
		}
		brokerCPU := "-"
		if r.BrokerCPUusPerCall > 0 {
			brokerCPU = fmtMicros(r.BrokerCPUusPerCall)
		}
		fmt.Fprintf(w, "%-5s %-*s %11d %10.0f %10s %10s %6s %9s %10s %13.1f %10s %13s %10s\n", r.Mode, implW, r.Impl, r.Concurrency,
			r.CallsPerS, fmtMicros(r.P50us), fmtMicros(r.P99us), ratio, fmtMicros(r.CPUusPerCall),
			fmtMicros(r.Caller.CPUusPerCall), r.Caller.AllocsPerCall, serverCPU, serverAllocs, brokerCPU)
	}
}

func fmtMicros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// runSoak runs a soak, printing each sample as it is taken and then the
// verdict: exit 0 when flat, 1 when a gauge drifted.
func runSoak(ctx context.Context, opt bench.Options, s bench.SoakOptions, jsonFile string, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "soak: %s %s, %d calls at %d callers, a sample every %s; judged after %s, within ±%.0f%% of the first sample after it\n",
		s.Mode, s.Impl, s.N, s.Concurrency, s.Interval, s.Warmup, s.Tolerance*100)
	fmt.Fprintf(stdout, "%8s %10s  %10s %10s %10s  %10s %10s %10s\n", "elapsed", "calls",
		"caller RSS", "heap", "goroutines", "server RSS", "heap", "goroutines")
	s.OnSample = func(smp bench.Sample) { printSample(stdout, smp) }
	rep, err := bench.Soak(ctx, opt, s)
	if jsonFile != "" && len(rep.Samples) > 0 {
		if werr := writeJSON(jsonFile, rep); werr != nil {
			fmt.Fprintf(stderr, "servicebus bench: %v\n", werr)
		}
	}
	if rep.Calls > 0 {
		fmt.Fprintf(stdout, "%d calls in %s (%.0f calls/s)\n", rep.Calls, rep.Wall.Round(time.Second), rep.CallsPerS)
	}
	printTrends(stdout, rep.Trends)
	switch {
	case errors.Is(err, bench.ErrNotFlat):
		fmt.Fprintf(stdout, "NOT FLAT over %d samples after the warm-up, no call failed:\n", rep.Judged)
		for _, d := range rep.Drift {
			fmt.Fprintf(stdout, "  %s\n", d)
		}
		return exitRemote
	case err != nil:
		return benchFail(stderr, interrupted(ctx, err))
	}
	fmt.Fprintf(stdout, "flat: RSS, live heap and goroutines of both sides within ±%.0f%% over %d samples after the warm-up; no call failed\n",
		s.Tolerance*100, rep.Judged)
	return exitOK
}

// printTrends prints each gauge after the warm-up: first, range, last and
// least-squares slope, which shows a slow climb inside the tolerance.
func printTrends(w io.Writer, trends []bench.Trend) {
	if len(trends) == 0 {
		return
	}
	fmt.Fprintf(w, "after the warm-up   %10s %10s %10s %10s %12s\n", "first", "min", "max", "last", "per minute")
	for _, t := range trends {
		f := func(v float64) string { return fmtBytes(uint64(v)) }
		slope := fmtBytes(uint64(math.Abs(t.PerMinute)))
		if strings.HasSuffix(t.Gauge, "goroutines") {
			f = func(v float64) string { return fmt.Sprintf("%.0f", v) }
			slope = fmt.Sprintf("%.1f", math.Abs(t.PerMinute))
		}
		sign := "+"
		if t.PerMinute < 0 {
			sign = "-"
		}
		fmt.Fprintf(w, "%-19s %10s %10s %10s %10s %12s\n", t.Gauge, f(t.First), f(t.Min), f(t.Max), f(t.Last), sign+slope)
	}
}

func printSample(w io.Writer, smp bench.Sample) {
	server := fmt.Sprintf("%10s %10s %10s", "-", "-", "-")
	if u := smp.Server; u != nil {
		server = fmt.Sprintf("%10s %10s %10d", fmtBytes(u.RSS), fmtBytes(u.LiveHeap), u.Goroutines)
	}
	fmt.Fprintf(w, "%8s %10d  %10s %10s %10d  %s\n", smp.Elapsed.Round(time.Second), smp.Calls,
		fmtBytes(smp.Caller.RSS), fmtBytes(smp.Caller.LiveHeap), smp.Caller.Goroutines, server)
}

// fmtBytes prints a size in MiB, or in KiB below 10 MiB, where a soak's
// live heaps are and a tenth of a MiB would hide a change of 10 %.
func fmtBytes(b uint64) string {
	if b >= 10<<20 {
		return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%dKiB", b>>10)
}
