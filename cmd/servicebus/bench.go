package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/go-servicebus/servicebus/internal/bench"
)

// benchServerArg makes `servicebus bench` the bench's server process
// (bench.Serve on stdin and stdout): the bench starts itself again with it
// to measure the server sides apart from the callers. Not for people.
const benchServerArg = "--server-process"

const benchHelp = `Measures servicebus against plain amqp091-go on one broker.
rpc: a servicebus agent and sender (XML envelope, daily token) vs an amqp091-go RPC pair
(one reply queue, a correlation map: the floor); send: Send with confirms vs amqp091-go
publishes with pipelined confirms. Every (mode, impl, concurrency) run makes --n calls after
a short warm-up; --rounds runs of each, rotating which impl goes first, report the run of
median calls/s. ratio: calls/s over the floor's at the same mode and concurrency, the median
over rounds of the per-round ratio.

Each side is measured in its own process: the server sides (agent, floor server) run in a
child process of the bench (this binary again), the callers (sender, floor client) in the
bench. cpu: user+system CPU of each process (getrusage) per call; allocs: heap objects each
process allocated (runtime.ReadMemStats) per call. Both include each process's runtime (GC) and,
on the caller side, the bench's own per-call work, the same for every impl. broker cpu: the
broker process's CPU per call, when it listens on a loopback address and /proc shows which
process holds its port (else -): on a small machine the broker shares the cores. --cpuprofile,
--trace, --mutexprofile and --allocprofile write FILE for the callers and FILE.server for the servers.

--soak makes one long run (default: rpc servicebus, 2,000,000 calls, 64 callers) and takes a
sample after every --soak-interval of calls: the callers pause until the calls in flight are answered, both
processes collect garbage and return free memory, and their RSS, live Go heap and goroutines
are read; the callers go on. Samples after --soak-warmup must stay within --soak-tolerance of
the first one after it. Exit code 1: not flat.`

func runBench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == benchServerArg {
		if err := bench.Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(stderr, "servicebus bench: %v\n", err)
			return exitUnavailable
		}
		return exitOK
	}
	fs := newFlagSet("bench", "bench [flags]", benchHelp)
	// The default is resolved after parsing so that help never prints a
	// password from the environment.
	url := fs.String("url", "", "broker `URL` (default $SERVICEBUS_TEST_URL, else amqp://guest:guest@127.0.0.1:5672/)")
	conc := fs.String("concurrency", "1,16,64", "comma-separated numbers of concurrent callers (--soak: one, default 64)")
	n := fs.Int("n", 5000, "calls per run (--soak: calls in all, default 2000000)")
	rounds := fs.Int("rounds", 3, "runs of each (mode, impl, concurrency), alternating the order; the median is reported")
	modes := fs.String("mode", "rpc,send", "what to measure: rpc, send or both (--soak: one, default rpc)")
	impls := fs.String("impl", bench.ImplFloor+","+bench.ImplServicebus, "implementations to run: "+bench.ImplFloor+" (the floor), "+bench.ImplServicebus+
		"; experiments (rpc only): "+bench.ImplConfirms+
		" (the floor pair with servicebus's confirms, mandatory, expiration and deadline header), "+bench.ImplTraceContext+
		" (rpc and send: the floor with those guarantees and a W3C traceparent header on every call, reply and publish, no span made), "+bench.ImplUnconfirmedReplies+
		" (the "+bench.ImplConfirms+" pair whose server acks right after publishing its reply, unconfirmed), "+bench.ImplUnconfirmed+
		" (that pair with no publisher confirm at all), "+bench.ImplMixAgent+
		" and "+bench.ImplMixSender+" (one plain side, one servicebus side, XML envelope and tokens on both) (--soak: one, default servicebus)")
	jsonFile := fs.String("json", "", "also write the rows (--soak: the report) as JSON to `FILE`")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline of one call")
	cpuprofile := fs.String("cpuprofile", "", "write CPU profiles of the whole run to `FILE` (callers) and FILE.server")
	traceFile := fs.String("trace", "", "write execution traces of the whole run to `FILE` and FILE.server (go tool trace)")
	mutexProfile := fs.String("mutexprofile", "", "write mutex contention profiles of the whole run to `FILE` and FILE.server")
	allocProfile := fs.String("allocprofile", "", "write allocation profiles (sites, counted from the start) to `FILE` and FILE.server")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	tracing := fs.Bool("tracing", false, "turn OpenTelemetry tracing on in both processes (exported nowhere, W3C propagation): its cost")
	traceSample := fs.Float64("trace-sample", 1, "with --tracing: the share of calls sampled, in (0, 1] (1: every call; less: a trace-id ratio that the agent follows)")
	withMetrics := fs.Bool("metrics", false, "turn the Prometheus metrics of the servicebus agent and sender on (their cost)")
	soak := fs.Bool("soak", false, "one long run that samples memory and goroutines of both sides (see above)")
	soakInterval := fs.Duration("soak-interval", 10*time.Second, "calling time between two soak samples")
	soakWarmup := fs.Duration("soak-warmup", time.Minute, "soak samples before this are shown, not judged")
	soakTolerance := fs.Float64("soak-tolerance", 0.10, "how far a gauge may move from its first sample after the warm-up (0.10: ±10 %)")
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
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "servicebus bench: %v\n", err)
		return exitUnavailable
	}
	opt := bench.Options{
		URL: *url, N: *n, Rounds: *rounds, Timeout: *timeout,
		ServerCommand: func() *exec.Cmd { return exec.Command(exe, "bench", benchServerArg) },
		Profiles:      bench.Profiles{CPU: *cpuprofile, Trace: *traceFile, Mutex: *mutexProfile, Alloc: *allocProfile},
		Tracing:       *tracing,
		TraceSample:   *traceSample,
		Metrics:       *withMetrics,
	}
	if !*quiet {
		opt.Progress = stderr
	}
	if opt.Concurrency, err = parseIntList(*conc); err != nil {
		return usageErr(stderr, "bench", fmt.Errorf("--concurrency: %w", err))
	}
	if *traceSample <= 0 || *traceSample > 1 {
		return usageErr(stderr, "bench", fmt.Errorf("--trace-sample %v: want a share of calls in (0, 1]", *traceSample))
	}
	if *traceSample != 1 && !*tracing {
		return usageErr(stderr, "bench", errors.New("--trace-sample needs --tracing"))
	}
	opt.Modes = splitList(*modes)
	opt.Impls = splitList(*impls)

	ctx, stop := signalContext()
	defer stop()
	if *soak {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		s := bench.SoakOptions{Mode: bench.ModeRPC, Impl: bench.ImplServicebus, Concurrency: 64, N: 2_000_000,
			Interval: *soakInterval, Warmup: *soakWarmup, Tolerance: *soakTolerance}
		if set["mode"] {
			s.Mode = *modes
		}
		if set["impl"] {
			s.Impl = *impls
		}
		if set["concurrency"] {
			if len(opt.Concurrency) != 1 {
				return usageErr(stderr, "bench", errors.New("--soak takes one --concurrency"))
			}
			s.Concurrency = opt.Concurrency[0]
		}
		if set["n"] {
			s.N = *n
		}
		return runSoak(ctx, opt, s, *jsonFile, stdout, stderr)
	}

	rows, err := bench.Run(ctx, opt)
	if len(rows) > 0 {
		printBenchTable(stdout, rows)
	}
	if err != nil {
		return benchFail(stderr, interrupted(ctx, err))
	}
	if *jsonFile != "" {
		if err := writeJSON(*jsonFile, rows); err != nil {
			fmt.Fprintf(stderr, "servicebus bench: %v\n", err)
			return exitUsage
		}
	}
	return exitOK
}

// benchFail prints a bench error and returns its exit code: 2 for bad
// options, 130 or 143 after SIGINT or SIGTERM, else what a call's error
// gives (3: no broker, a timeout).
func benchFail(stderr io.Writer, err error) int {
	if errors.Is(err, bench.ErrOptions) {
		return usageErr(stderr, "bench", err)
	}
	return fail(stderr, "bench", err)
}

func writeJSON(file string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(data, '\n'), 0o644)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
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
