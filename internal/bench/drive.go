package bench

import (
	"context"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// load is what drive makes: n calls from c goroutines.
type load struct {
	call    func(context.Context) error
	timeout time.Duration // of one call
	c, n    int
	// record keeps each call's latency. A soak records none: millions of
	// latencies would grow the heap it samples.
	record bool
	done   *atomic.Int64 // calls made so far, for progress and samples; nil for none
	// gate, when set, is read-locked around each call: a soak's sampler
	// write-locks it to pause the callers once the calls in flight end.
	gate *sync.RWMutex
}

// drive makes the calls of l and returns each call's latency (if recorded)
// and the wall time. The first error stops all callers.
func drive(ctx context.Context, l load) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	lats := make([][]time.Duration, l.c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range l.c {
		wg.Add(1)
		go pprof.Do(ctx, pprof.Labels("side", "caller"), func(ctx context.Context) {
			defer wg.Done()
			var own []time.Duration
			if l.record {
				own = make([]time.Duration, 0, l.n/l.c+1)
			}
			defer func() { lats[w] = own }()
			for ctx.Err() == nil && next.Add(1) <= int64(l.n) {
				if l.gate != nil {
					l.gate.RLock()
				}
				cctx, ccancel := context.WithTimeout(ctx, l.timeout)
				t0 := time.Now()
				err := l.call(cctx)
				d := time.Since(t0)
				ccancel()
				if l.gate != nil {
					l.gate.RUnlock()
				}
				if err != nil {
					cancel(err)
					return
				}
				if l.record {
					own = append(own, d)
				}
				if l.done != nil {
					l.done.Add(1)
				}
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
