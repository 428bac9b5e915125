package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// Options are the settings of Run and Soak.
type Options struct {
	URL         string   // the broker; every implementation uses this one
	Modes       []string // ModeRPC, ModeSend
	Impls       []string // of Impls; experiments are left out of send mode
	Concurrency []int    // numbers of concurrent callers
	N           int      // calls per run, after a warm-up
	Rounds      int      // runs of each (mode, impl, concurrency)
	Timeout     time.Duration
	// ServerCommand makes the command of the server process: this program
	// again, in a mode that calls Serve with its stdin and stdout. Needed
	// for RPC.
	ServerCommand func() *exec.Cmd
	Profiles      Profiles
	Suffix        string    // of queue names; random when empty
	Progress      io.Writer // a line per run; nil for none
	// Tracing turns OpenTelemetry tracing on in both processes: an SDK
	// provider, exported nowhere, and W3C propagation.
	Tracing bool
	// TraceSample is the share of calls that Tracing samples, in (0, 1];
	// 0 means 1, every call. The agent follows the caller's choice
	// (ParentBased), as a deployment that samples would.
	TraceSample float64
	// Metrics turns the Prometheus metrics of the servicebus sides on
	// (agent and sender, on registries nobody scrapes): their cost.
	Metrics bool
}

func (o *Options) validate() error {
	var errs []error
	if len(o.Modes) == 0 {
		errs = append(errs, errors.New("no mode"))
	}
	for _, m := range o.Modes {
		if m != ModeRPC && m != ModeSend {
			errs = append(errs, fmt.Errorf("mode %q is not %s or %s", m, ModeRPC, ModeSend))
		}
	}
	if len(o.Impls) == 0 {
		errs = append(errs, errors.New("no implementation"))
	}
	if o.TraceSample < 0 || o.TraceSample > 1 {
		errs = append(errs, fmt.Errorf("trace sample %v is not in (0, 1]", o.TraceSample))
	}
	for _, impl := range o.Impls {
		if !validImpl(impl) {
			errs = append(errs, fmt.Errorf("implementation %q is not one of %v", impl, Impls))
		}
	}
	if len(o.Concurrency) == 0 || slices.Min(o.Concurrency) < 1 {
		errs = append(errs, errors.New("concurrency must be at least 1"))
	}
	if o.N < 1 || o.Rounds < 1 {
		errs = append(errs, errors.New("calls and rounds must be at least 1"))
	}
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("the call timeout must be positive"))
	}
	if o.URL == "" {
		errs = append(errs, errors.New("no broker URL"))
	}
	if slices.Contains(o.Modes, ModeRPC) && o.ServerCommand == nil {
		errs = append(errs, errors.New("rpc needs a server command"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return nil
}

// Run measures every implementation in every mode at every concurrency,
// on queues named with a random suffix that it deletes afterwards. On an
// error it returns the rows measured so far.
func Run(ctx context.Context, opt Options) (rows []Row, err error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	r, err := newRunner(opt, slices.Contains(opt.Modes, ModeRPC))
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	for _, mode := range opt.Modes {
		targets, err := r.setup(mode)
		if err == nil {
			var got []Row
			got, err = r.measureAll(ctx, targets)
			rows = append(rows, got...)
		}
		if terr := r.teardown(targets); err == nil {
			err = terr
		}
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// runner holds what a run shares: the broker connection of the bench
// process (queues), the server process, the profiles.
type runner struct {
	opt          Options
	topo         topology.Topology
	queues       *queues
	server       *serverProcess // nil when no mode has a server side
	stopProfiles func() error
	stopTracing  func() error // nil unless Options.Tracing
	broker       string       // the broker's /proc directory, "" when not found (brokercpu.go)
}

func newRunner(opt Options, withServer bool) (r *runner, err error) {
	if opt.Suffix == "" {
		opt.Suffix = randomSuffix()
	}
	r = &runner{opt: opt, stopProfiles: func() error { return nil }, broker: brokerProcess(opt.URL)}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	// start stops what it started when it fails; only a success is ours
	// to stop.
	stop, err := opt.Profiles.start()
	if err != nil {
		return r, err
	}
	r.stopProfiles = stop
	if opt.Tracing {
		r.stopTracing = tracingOn(opt.TraceSample)
	}
	if r.queues, err = dialQueues(opt.URL, r.topo); err != nil {
		return r, err
	}
	if withServer {
		if r.server, err = startServerProcess(opt.ServerCommand(), opt.Profiles); err != nil {
			return r, err
		}
		if opt.Tracing {
			if _, err = r.server.do(request{Op: opTracing, Sample: opt.TraceSample}); err != nil {
				return r, err
			}
		}
	}
	return r, nil
}

func (r *runner) close() error {
	var errs []error
	if r.server != nil {
		errs = append(errs, r.server.close())
	}
	if r.queues != nil {
		r.queues.close()
	}
	errs = append(errs, r.stopProfiles())
	if r.stopTracing != nil {
		errs = append(errs, r.stopTracing())
	}
	return errors.Join(errs...)
}

// setup starts the server side (in the server process) and then the caller
// side of each implementation of mode. On an error the targets started so
// far are returned for teardown.
func (r *runner) setup(mode string) ([]*target, error) {
	var targets []*target
	for _, impl := range r.opt.Impls {
		if !supports(mode, impl) {
			continue
		}
		t := &target{mode: mode, impl: impl, queue: queueName(mode, impl, r.opt.Suffix), server: serverOf(mode, impl)}
		targets = append(targets, t)
		var err error
		if t.server != "" {
			err = r.server.start(t.server, r.opt.URL, t.queue, r.opt.Metrics)
		} else {
			err = r.queues.declare(t.queue)
		}
		if err == nil {
			t.caller, err = newCaller(mode, impl, r.opt.URL, r.topo, t.queue, r.opt.Metrics)
		}
		if err != nil {
			return targets, fmt.Errorf("%s %s: %w", mode, impl, err)
		}
	}
	return targets, nil
}

// teardown closes the callers, then the server sides, then deletes the
// queues: a queue deleted under a live agent would be declared again.
func (r *runner) teardown(targets []*target) error {
	var errs []error
	for _, t := range targets {
		if t.caller.close != nil {
			t.caller.close()
		}
		if t.server != "" {
			errs = append(errs, r.server.stop(t.queue))
		}
		errs = append(errs, r.queues.delete(t.queue))
	}
	return errors.Join(errs...)
}

// measureAll measures every target at every concurrency, rotating each
// round which implementation goes first.
func (r *runner) measureAll(ctx context.Context, targets []*target) ([]Row, error) {
	var rows []Row
	for _, c := range r.opt.Concurrency {
		var runs []Row
		for round := range r.opt.Rounds {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				row, err := r.measure(ctx, t, c, round)
				if err != nil {
					return append(rows, summarize(runs)...), fmt.Errorf("%s %s concurrency %d: %w", t.mode, t.impl, c, err)
				}
				runs = append(runs, row)
			}
		}
		rows = append(rows, summarize(runs)...)
	}
	return rows, nil
}

// measure makes a warm-up, then N calls from c goroutines, and reports
// throughput, latency percentiles and each side's cost per call.
func (r *runner) measure(ctx context.Context, t *target, c, round int) (Row, error) {
	warm := min(r.opt.N, max(50, 2*c))
	if _, _, err := drive(ctx, load{call: t.caller.call, timeout: r.opt.Timeout, c: c, n: warm}); err != nil {
		return Row{}, fmt.Errorf("warm-up: %w", err)
	}
	label := fmt.Sprintf("%s %s c=%d round %d/%d", t.mode, t.impl, c, round+1, r.opt.Rounds)
	var done atomic.Int64
	stopLive := r.live(label, &done)
	before, err := r.usage(t, false)
	if err != nil {
		stopLive()
		return Row{}, err
	}
	brokerBefore, brokerOK := brokerCPU(r.broker)
	lat, wall, err := drive(ctx, load{call: t.caller.call, timeout: r.opt.Timeout, c: c, n: r.opt.N, record: true, done: &done})
	brokerAfter, brokerOK2 := brokerCPU(r.broker)
	after, uerr := r.usage(t, false)
	stopLive()
	if err = errors.Join(err, uerr); err != nil {
		r.progress("\rbench %-46s %7d/%d failed\n", label, len(lat), r.opt.N)
		return Row{}, err
	}
	slices.Sort(lat)
	row := Row{
		Mode:        t.mode,
		Impl:        t.impl,
		Concurrency: c,
		CallsPerS:   round1(float64(len(lat)) / wall.Seconds()),
		P50us:       round1(percentile(lat, 50)),
		P99us:       round1(percentile(lat, 99)),
		Caller:      perCall(before[0], after[0], len(lat)),
		round:       round,
	}
	row.CPUusPerCall = row.Caller.CPUusPerCall
	if brokerOK && brokerOK2 && len(lat) > 0 {
		row.BrokerCPUusPerCall = round1(float64(brokerAfter-brokerBefore) / float64(time.Microsecond) / float64(len(lat)))
	}
	if t.server != "" {
		s := perCall(before[1], after[1], len(lat))
		row.Server = &s
		row.CPUusPerCall = round1(row.Caller.CPUusPerCall + s.CPUusPerCall)
	}
	r.progress("\rbench %-46s %7d/%d %8.0f calls/s\n", label, len(lat), r.opt.N, row.CallsPerS)
	return row, nil
}

// usage reads the bench process and, if t has a server side, the server
// process; with gc, each first collects garbage and returns the free
// memory to the system (debug.FreeOSMemory), so that the live heap is the
// heap live at that moment and RSS what the process holds at rest, not
// what the scavenger has not yet given back.
func (r *runner) usage(t *target, gc bool) ([2]Usage, error) {
	var u [2]Usage
	var err error
	if t.server != "" {
		u[1], err = r.server.usage(gc)
	}
	if gc {
		debug.FreeOSMemory()
	}
	u[0] = readUsage()
	return u, err
}

// settleTimeout bounds quietUsage's wait for the goroutines to settle.
const settleTimeout = 2 * time.Second

// quietUsage reads both processes at rest, while the callers are paused:
// it waits until the goroutine counts stop changing (the agent still acks
// the last requests after their replies went out), then frees memory in
// both and reads them.
func (r *runner) quietUsage(t *target) ([2]Usage, error) {
	prev, err := r.usage(t, false)
	for deadline := time.Now().Add(settleTimeout); err == nil && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		var cur [2]Usage
		if cur, err = r.usage(t, false); err == nil && cur[0].Goroutines == prev[0].Goroutines && cur[1].Goroutines == prev[1].Goroutines {
			break
		}
		prev = cur
	}
	if err != nil {
		return prev, err
	}
	return r.usage(t, true)
}

func (r *runner) progress(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, format, args...)
	}
}

// live rewrites a progress line every 250 ms on a terminal; it returns the
// function that stops it.
func (r *runner) live(label string, done *atomic.Int64) func() {
	if !isTerminal(r.opt.Progress) {
		return func() {}
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		every(250*time.Millisecond, stop, func() {
			fmt.Fprintf(r.opt.Progress, "\rbench %-46s %7d/%d", label, done.Load(), r.opt.N)
		})
	}()
	return func() {
		close(stop)
		<-stopped
	}
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
