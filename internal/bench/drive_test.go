package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	if p := percentile(lat, 50); p != 50 {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(lat, 99); p != 99 {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(lat[:1], 99); p != 1 {
		t.Errorf("p99 of one %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of none %v", p)
	}
}

func TestDriveMakesExactlyNCallsAndStopsAtTheFirstError(t *testing.T) {
	var calls, done atomic.Int64
	lat, _, err := drive(context.Background(), load{call: func(context.Context) error { calls.Add(1); return nil }, timeout: time.Second, c: 7, n: 1000, record: true, done: &done})
	if err != nil || calls.Load() != 1000 || done.Load() != 1000 || len(lat) != 1000 {
		t.Fatalf("err %v, %d calls, %d done, %d latencies; want 1000 each", err, calls.Load(), done.Load(), len(lat))
	}
	boom := errors.New("boom")
	calls.Store(0)
	var late atomic.Int64 // calls that began after drive was stopped
	_, _, err = drive(context.Background(), load{call: func(ctx context.Context) error {
		if ctx.Err() != nil {
			late.Add(1) // its context came from the stopped drive
		}
		if calls.Add(1) == 10 {
			return boom
		}
		return nil
	}, timeout: time.Second, c: 4, n: 100000})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	// Callers stop at the next call after the error: a caller may have
	// checked just before the stop and make one more call, no more. (How
	// many calls the other callers finish while the failing one returns
	// is up to the scheduler, so the total is not bounded.)
	if n := late.Load(); n > 4 {
		t.Errorf("%d calls began after the stop, want at most one for each of the 4 callers", n)
	}
	if n := calls.Load(); n >= 100000 {
		t.Errorf("all %d calls were made: the error did not stop the callers", n)
	}
}

// BenchmarkDriveOverhead is the bench's own cost per call, counted on the
// caller side of every implementation alike: a call that does nothing,
// made by 64 callers.
// go test -run x -bench DriveOverhead -benchmem ./internal/bench
func BenchmarkDriveOverhead(b *testing.B) {
	b.ReportAllocs()
	noop := func(context.Context) error { return nil }
	b.ResetTimer()
	if _, _, err := drive(context.Background(), load{call: noop, timeout: time.Second, c: 64, n: b.N, record: true}); err != nil {
		b.Fatal(err)
	}
}
