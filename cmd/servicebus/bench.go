package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// benchParams are the params of every benchmarked call: math.add of [1,2].
var benchParams = []byte("[1,2]")

// benchRow is one measured run; its JSON form is the --json file's row.
type benchRow struct {
	Mode        string  `json:"mode"` // "rpc" or "send"
	Impl        string  `json:"impl"` // "servicebus" or "amqp091"
	Concurrency int     `json:"concurrency"`
	CallsPerS   float64 `json:"calls_per_s"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	// CPUusPerCall is the CPU time of this whole process (both sides of the
	// implementation: caller and server) per call: what servicebus costs in
	// Go, apart from the broker, and steadier than calls/s on a busy machine.
	CPUusPerCall float64 `json:"cpu_us_per_call"`
	// Ratio is calls/s relative to the floor (amqp091) at the same mode and
	// concurrency: the median over rounds of the per-round ratio. 0 for the
	// floor itself.
	Ratio float64 `json:"ratio,omitempty"`
}

// benchOptions are the bench command's settings.
type benchOptions struct {
	URL         string
	Concurrency []int
	N           int
	Modes       []string // "rpc", "send"
	Rounds      int      // runs of each (mode, impl, concurrency); the median is reported
	Impls       []string // implFloor, implServicebus, implConfirms
	Suffix      string   // of queue and node names; random when empty
	Timeout     time.Duration
	Progress    io.Writer // nil: no progress line
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", "bench [flags]",
		"Measures servicebus against plain amqp091-go in one process against one broker:\n"+
			"rpc: a servicebus agent and sender (XML envelope, daily token) vs an amqp091-go RPC pair\n"+
			"(one reply queue, a correlation map); send: Send with confirms vs amqp091-go publish with\n"+
			"pipelined confirms. Every (mode, impl, concurrency) run makes --n calls after a short warm-up.")
	// The default is resolved after parsing so that help never prints a
	// password from the environment.
	url := fs.String("url", "", "broker `URL` (default $SERVICEBUS_TEST_URL, else amqp://guest:guest@127.0.0.1:5672/)")
	conc := fs.String("concurrency", "1,16,64", "comma-separated numbers of concurrent callers")
	n := fs.Int("n", 5000, "calls per run")
	rounds := fs.Int("rounds", 3, "runs of each (mode, impl, concurrency), alternating the order; the median is reported")
	modes := fs.String("mode", "rpc,send", "what to measure: rpc, send or both")
	impls := fs.String("impl", implFloor+","+implServicebus, "implementations to run: "+implFloor+" (the floor), "+implServicebus+
		"; experiments (rpc only): "+implConfirms+
		" (the floor pair with servicebus's confirms, mandatory, expiration and deadline header), "+implMixAgent+
		" and "+implMixSender+" (one plain side, one servicebus side, XML envelope and tokens on both)")
	jsonFile := fs.String("json", "", "also write the rows as a JSON list to `FILE`")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of one call")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `FILE`")
	traceFile := fs.String("trace", "", "write an execution trace of the whole run to `FILE` (go tool trace)")
	mutexProfile := fs.String("mutexprofile", "", "write a mutex contention profile of the whole run to `FILE`")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		return usageErr(stderr, "bench", fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if *url == "" {
		*url = os.Getenv("SERVICEBUS_TEST_URL")
	}
	if *url == "" {
		*url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	opt := benchOptions{URL: *url, N: *n, Rounds: *rounds, Timeout: *timeout}
	if !*quiet {
		opt.Progress = stderr
	}
	var err error
	if opt.Concurrency, err = parseIntList(*conc); err != nil {
		return usageErr(stderr, "bench", fmt.Errorf("--concurrency: %w", err))
	}
	for _, m := range strings.Split(*modes, ",") {
		switch m = strings.TrimSpace(m); m {
		case "rpc", "send":
			opt.Modes = append(opt.Modes, m)
		default:
			return usageErr(stderr, "bench", fmt.Errorf("--mode: %q is not rpc or send", m))
		}
	}
	for _, m := range strings.Split(*impls, ",") {
		switch m = strings.TrimSpace(m); m {
		case implFloor, implServicebus, implConfirms, implMixAgent, implMixSender:
			opt.Impls = append(opt.Impls, m)
		default:
			return usageErr(stderr, "bench", fmt.Errorf("--impl: %q is not one of %s, %s, %s, %s, %s", m,
				implFloor, implServicebus, implConfirms, implMixAgent, implMixSender))
		}
	}
	if opt.N < 1 || opt.Rounds < 1 {
		return usageErr(stderr, "bench", errors.New("--n and --rounds must be at least 1"))
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return usageErr(stderr, "bench", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return usageErr(stderr, "bench", err)
		}
		defer pprof.StopCPUProfile()
	}
	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(1)
		defer func() {
			if f, err := os.Create(*mutexProfile); err == nil {
				pprof.Lookup("mutex").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return usageErr(stderr, "bench", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return usageErr(stderr, "bench", err)
		}
		defer trace.Stop()
	}

	ctx, stop := signalContext()
	defer stop()
	rows, err := bench(ctx, opt)
	if len(rows) > 0 {
		printBenchTable(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "servicebus bench: %v\n", err)
		return exitCode(err)
	}
	if *jsonFile != "" {
		data, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*jsonFile, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintf(stderr, "servicebus bench: %v\n", err)
			return exitUsage
		}
	}
	return exitOK
}

func parseIntList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// bench runs every mode at every concurrency, floor first then servicebus,
// on resources named with a random suffix that it deletes afterwards.
func bench(ctx context.Context, opt benchOptions) ([]benchRow, error) {
	suffix := opt.Suffix
	if suffix == "" {
		suffix = randomSuffix()
	}
	var rows []benchRow
	for _, mode := range opt.Modes {
		var targets []benchTarget
		var err error
		switch mode {
		case "rpc":
			targets, err = newRPCTargets(opt.URL, suffix, opt.Impls)
		case "send":
			targets, err = newSendTargets(opt.URL, suffix, opt.Impls)
		}
		if err != nil {
			return rows, err
		}
		got, err := measureAll(ctx, opt, mode, targets)
		for _, t := range targets {
			t.close()
		}
		rows = append(rows, got...)
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// measureAll measures every target at every concurrency. Rounds rotate
// which implementation goes first, so drift of a shared machine hits all
// alike; the median round of each is reported.
func measureAll(ctx context.Context, opt benchOptions, mode string, targets []benchTarget) ([]benchRow, error) {
	var rows []benchRow
	for _, c := range opt.Concurrency {
		got := map[string][]benchRow{}
		for r := range opt.Rounds {
			for i := range targets {
				t := targets[(i+r)%len(targets)]
				row, err := measure(ctx, opt, mode, t, c, fmt.Sprintf("%d/%d", r+1, opt.Rounds))
				if err != nil {
					return rows, fmt.Errorf("%s %s concurrency %d: %w", mode, t.impl, c, err)
				}
				got[t.impl] = append(got[t.impl], row)
			}
		}
		floor := got[implFloor]
		for _, t := range targets {
			rounds := got[t.impl]
			row := medianRow(rounds)
			if len(floor) == len(rounds) && t.impl != implFloor {
				// The ratio of each round to the floor's run next to it in
				// time, then the median: steadier than a ratio of medians
				// when the machine's load drifts.
				ratios := make([]float64, len(rounds))
				for r := range rounds {
					ratios[r] = rounds[r].CallsPerS / floor[r].CallsPerS
				}
				slices.Sort(ratios)
				row.Ratio = math.Round(ratios[len(ratios)/2]*1000) / 1000
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// medianRow is the round with the median throughput.
func medianRow(rounds []benchRow) benchRow {
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b benchRow) int { return cmp.Compare(a.CallsPerS, b.CallsPerS) })
	return sorted[len(sorted)/2]
}

// Implementations measured.
const (
	implFloor      = "amqp091"
	implServicebus = "servicebus"
	implConfirms   = "amqp091+confirms" // rpc only
)

// benchTarget is one implementation of one mode: a call to measure and a
// way to tear it down.
type benchTarget struct {
	impl  string
	call  func(ctx context.Context) error
	close func()
}

// measure makes a warm-up then opt.N calls from c goroutines and reports
// throughput and latency percentiles.
func measure(ctx context.Context, opt benchOptions, mode string, t benchTarget, c int, round string) (benchRow, error) {
	warm := min(opt.N, max(50, 2*c))
	if _, _, err := drive(ctx, opt, t, c, warm, nil); err != nil {
		return benchRow{}, fmt.Errorf("warm-up: %w", err)
	}
	label := fmt.Sprintf("%s %s c=%d round %s", mode, t.impl, c, round)
	var live func(int)
	if isTerminal(opt.Progress) {
		live = func(done int) { fmt.Fprintf(opt.Progress, "\rbench %-36s %7d/%d", label, done, opt.N) }
	}
	cpu0 := processCPU()
	lat, wall, err := drive(ctx, opt, t, c, opt.N, live)
	cpu := processCPU() - cpu0
	if err != nil {
		if opt.Progress != nil {
			fmt.Fprintf(opt.Progress, "\rbench %-36s %7d/%d failed\n", label, len(lat), opt.N)
		}
		return benchRow{}, err
	}
	slices.Sort(lat)
	row := benchRow{
		Mode:         mode,
		Impl:         t.impl,
		Concurrency:  c,
		CallsPerS:    round1(float64(len(lat)) / wall.Seconds()),
		P50us:        round1(percentile(lat, 50)),
		P99us:        round1(percentile(lat, 99)),
		CPUusPerCall: round1(float64(cpu) / float64(time.Microsecond) / float64(len(lat))),
	}
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "\rbench %-36s %7d/%d %8.0f calls/s\n", label, len(lat), opt.N, row.CallsPerS)
	}
	return row, nil
}

// drive makes n calls from c goroutines and returns each call's latency and
// the wall time; the first error stops all callers.
func drive(ctx context.Context, opt benchOptions, t benchTarget, c, n int, progress func(done int)) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	lats := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "caller"), func(ctx context.Context) {
			defer wg.Done()
			own := make([]time.Duration, 0, n/c+1)
			defer func() { lats[w] = own }()
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				cctx, ccancel := context.WithTimeout(ctx, opt.Timeout)
				t0 := time.Now()
				err := t.call(cctx)
				d := time.Since(t0)
				ccancel()
				if err != nil {
					cancel(err)
					return
				}
				own = append(own, d)
				done.Add(1)
			}
		})
	}
	finished := make(chan struct{})
	if progress != nil {
		go func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-finished:
					return
				case <-tick.C:
					progress(int(done.Load()))
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(finished)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if err := context.Cause(ctx); err != nil {
		return all, wall, err
	}
	return all, wall, nil
}

// percentile of sorted latencies, in microseconds (nearest rank).
func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	i = min(max(i-1, 0), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// printBenchTable prints the rows with each implementation's calls/s as a ratio of the
// floor's at the same mode and concurrency.
func printBenchTable(w io.Writer, rows []benchRow) {
	fmt.Fprintf(w, "%-5s %-16s %11s %10s %10s %10s %6s %9s\n", "mode", "impl", "concurrency", "calls/s", "p50", "p99", "ratio", "cpu/call")
	for _, r := range rows {
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(w, "%-5s %-16s %11d %10.0f %10s %10s %6s %9s\n", r.Mode, r.Impl, r.Concurrency, r.CallsPerS,
			fmtMicros(r.P50us), fmtMicros(r.P99us), ratio, fmtMicros(r.CPUusPerCall))
	}
}

func fmtMicros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2fms", us/1000)
	}
	return fmt.Sprintf("%.0fµs", us)
}

func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isTerminal reports whether w is a character device, where a progress line
// that rewrites itself is readable.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
