package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// SoakOptions are a soak's own settings; Soak takes the broker, the call
// timeout, the server command, profiles, suffix and progress from Options.
type SoakOptions struct {
	Mode        string // ModeRPC or ModeSend
	Impl        string // ImplServicebus, or any other Run knows
	Concurrency int
	N           int           // calls in all
	Interval    time.Duration // of calls between two samples
	// Warmup is how long the gauges may grow before they are judged: the
	// broker's and both processes' pools and caches fill first.
	Warmup time.Duration
	// Tolerance is how far (0.10: ±10 %) a gauge may move from its value
	// at the first sample after the warm-up.
	Tolerance float64
	OnSample  func(Sample) // each sample as it is taken; may be nil
}

// Sample is the gauges of both processes at one moment of a soak.
type Sample struct {
	Elapsed time.Duration `json:"elapsed_ns"`
	Calls   int64         `json:"calls"`
	Caller  Usage         `json:"caller"`
	Server  *Usage        `json:"server,omitempty"` // nil when the impl has no server side
}

// SoakReport is what a soak saw.
type SoakReport struct {
	Samples   []Sample      `json:"samples"`
	Calls     int64         `json:"calls"`
	Wall      time.Duration `json:"wall_ns"`
	CallsPerS float64       `json:"calls_per_s"`
	Judged    int           `json:"judged"` // samples after the warm-up
	// Drift says, one line a gauge, which gauges left the tolerance after
	// the warm-up and how far; empty when flat.
	Drift []string `json:"drift,omitempty"`
	// Trends are the gauges after the warm-up, each with its slope.
	Trends []Trend `json:"trends,omitempty"`
}

func (s *SoakOptions) validate() error {
	var errs []error
	if s.Mode != ModeRPC && s.Mode != ModeSend {
		errs = append(errs, fmt.Errorf("mode %q is not %s or %s", s.Mode, ModeRPC, ModeSend))
	}
	if !validImpl(s.Impl) || !supports(s.Mode, s.Impl) {
		errs = append(errs, fmt.Errorf("implementation %q has no %s mode", s.Impl, s.Mode))
	}
	if s.Concurrency < 1 || s.N < 1 {
		errs = append(errs, errors.New("concurrency and calls must be at least 1"))
	}
	if s.Interval <= 0 || s.Warmup < 0 || s.Tolerance <= 0 {
		errs = append(errs, errors.New("the interval and the tolerance must be positive, the warm-up not negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: soak: %w", ErrOptions, err)
	}
	return nil
}

// soakSampleRoom is how many samples a soak keeps without allocating: 2.8
// hours at one sample every 10 s, in about 120 KiB.
const soakSampleRoom = 1024

// Soak makes s.N calls of one implementation at one concurrency and samples
// RSS, the live heap and goroutines of both processes every s.Interval. It
// returns ErrNotFlat, with the report, when a gauge left s.Tolerance after
// s.Warmup, and the first call error, with the samples taken until then.
func Soak(ctx context.Context, opt Options, s SoakOptions) (rep SoakReport, err error) {
	opt.Modes, opt.Impls, opt.Concurrency, opt.N, opt.Rounds = []string{s.Mode}, []string{s.Impl}, []int{s.Concurrency}, s.N, 1
	if err := errors.Join(opt.validate(), s.validate()); err != nil {
		return rep, err
	}
	r, err := newRunner(opt, serverOf(s.Mode, s.Impl) != "")
	if err != nil {
		return rep, err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	targets, err := r.setup(s.Mode)
	defer func() { err = errors.Join(err, r.teardown(targets)) }()
	if err != nil {
		return rep, err
	}
	t := targets[0]

	// The samples are kept in room made before the first one, so that
	// keeping them does not grow the heap they measure (until there are
	// more than soakSampleRoom).
	rep.Samples = make([]Sample, 0, soakSampleRoom)
	servers := make([]Usage, 0, soakSampleRoom)
	var done atomic.Int64
	var gate sync.RWMutex
	var sampleErr error
	start := time.Now()
	// A sample pauses the callers and reads both processes at rest, so
	// that samples compare like with like: no calls in flight, garbage
	// collected. Only the sampler goroutine appends, and it has ended
	// before the report is read.
	take := func() {
		gate.Lock()
		defer gate.Unlock()
		u, err := r.quietUsage(t)
		if err != nil {
			sampleErr = errors.Join(sampleErr, err)
			return
		}
		smp := Sample{Elapsed: time.Since(start), Calls: done.Load(), Caller: u[0]}
		if t.server != "" {
			servers = append(servers, u[1])
			smp.Server = &servers[len(servers)-1]
		}
		rep.Samples = append(rep.Samples, smp)
		if s.OnSample != nil {
			s.OnSample(smp)
		}
	}
	take()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	// Samples are taken while the calls run, never after: the same callers
	// are parked at the gate in every sample. The interval runs from the
	// end of one sample, so the calls always get it, however long a
	// sample takes.
	go func() {
		defer close(sampled)
		timer := time.NewTimer(s.Interval)
		defer timer.Stop()
		for {
			select {
			case <-stop:
				return
			case <-timer.C:
				take()
				timer.Reset(s.Interval)
			}
		}
	}()
	_, wall, err := drive(ctx, load{call: t.caller.call, timeout: opt.Timeout, c: s.Concurrency, n: s.N, done: &done, gate: &gate})
	close(stop)
	<-sampled
	rep.Calls, rep.Wall = done.Load(), wall
	rep.CallsPerS = round1(float64(rep.Calls) / wall.Seconds())
	if err = errors.Join(err, sampleErr); err != nil {
		return rep, err
	}
	rep.Judged, rep.Drift = judge(rep.Samples, s.Warmup, s.Tolerance)
	rep.Trends = trends(rep.Samples, s.Warmup)
	if len(rep.Drift) > 0 {
		return rep, ErrNotFlat
	}
	return rep, nil
}

// judge compares every sample after the warm-up with the first one after
// it, gauge by gauge, and describes each gauge that moved by more than tol
// (its largest move). Fewer than two samples after the warm-up cannot show
// flatness and are a drift of their own.
func judge(samples []Sample, warmup time.Duration, tol float64) (judged int, drift []string) {
	var post []Sample
	for _, smp := range samples {
		if smp.Elapsed >= warmup {
			post = append(post, smp)
		}
	}
	if len(post) < 2 {
		return len(post), []string{fmt.Sprintf("%d samples after the %s warm-up: too few to judge (run longer or sample more often)", len(post), warmup)}
	}
	for _, g := range soakGauges() {
		ref, ok := g.of(post[0])
		if !ok {
			continue
		}
		worst, at := 0.0, post[0]
		for _, smp := range post[1:] {
			v, _ := g.of(smp)
			if dev := v/ref - 1; ref > 0 && math.Abs(dev) > math.Abs(worst) {
				worst, at = dev, smp
			}
		}
		if math.Abs(worst) > tol {
			v, _ := g.of(at)
			drift = append(drift, fmt.Sprintf("%s: %.0f at %s is %+.1f%% of %.0f at %s (tolerance ±%.0f%%)",
				g.name, v, at.Elapsed.Round(time.Second), worst*100, ref, post[0].Elapsed.Round(time.Second), tol*100))
		}
	}
	return len(post), drift
}

// gauge is one figure of one side that a soak judges.
type gauge struct {
	name string
	of   func(Sample) (float64, bool) // false when the sample has no such side
}

// soakGauges are RSS, the live heap and goroutines of each side.
func soakGauges() []gauge {
	var gauges []gauge
	for _, side := range []string{"caller", "server"} {
		for _, name := range []string{"RSS", "live heap", "goroutines"} {
			gauges = append(gauges, gauge{side + " " + name, func(s Sample) (float64, bool) {
				u := &s.Caller
				if side == "server" {
					u = s.Server
				}
				switch {
				case u == nil:
					return 0, false
				case name == "RSS":
					return float64(u.RSS), true
				case name == "live heap":
					return float64(u.LiveHeap), true
				default:
					return float64(u.Goroutines), true
				}
			}})
		}
	}
	return gauges
}
