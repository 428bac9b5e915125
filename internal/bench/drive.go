package bench

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// drive makes n calls from c goroutines and returns the wall time and, when
// record is true, each call's latency (a soak records none: millions of
// latencies would grow the heap it samples). The first error stops all
// callers. done counts the calls made so far, for progress and samples.
func drive(ctx context.Context, call func(context.Context) error, timeout time.Duration, c, n int, record bool, done *atomic.Int64) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	lats := make([][]time.Duration, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "caller"), func(ctx context.Context) {
			defer wg.Done()
			var own []time.Duration
			if record {
				own = make([]time.Duration, 0, n/c+1)
			}
			defer func() { lats[w] = own }()
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				cctx, ccancel := context.WithTimeout(ctx, timeout)
				t0 := time.Now()
				err := call(cctx)
				d := time.Since(t0)
				ccancel()
				if err != nil {
					cancel(err)
					return
				}
				if record {
					own = append(own, d)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	return all, wall, context.Cause(ctx)
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

// every calls fn every interval until stop is closed.
func every(interval time.Duration, stop <-chan struct{}, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			fn()
		}
	}
}
