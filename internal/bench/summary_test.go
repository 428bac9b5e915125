package bench

import (
	"testing"
)

// run is a measured run of one round.
func run(mode, impl string, c, round int, callsPerS float64) Row {
	return Row{Mode: mode, Impl: impl, Concurrency: c, CallsPerS: callsPerS,
		Caller: Side{CPUusPerCall: callsPerS / 1000}, round: round}
}

func TestRatioIsServicebusOverFloorMedianOfPerRoundRatios(t *testing.T) {
	runs := []Row{
		// rpc at 64 callers: per-round ratios 0.7, 0.5, 0.8, median 0.7.
		// The ratio of the medians would be 6400/10000 = 0.64, the
		// inverted ratio 1.43.
		run(ModeRPC, ImplFloor, 64, 0, 10000),
		run(ModeRPC, ImplServicebus, 64, 0, 7000),
		run(ModeRPC, ImplServicebus, 64, 1, 6000),
		run(ModeRPC, ImplFloor, 64, 1, 12000),
		run(ModeRPC, ImplFloor, 64, 2, 8000),
		run(ModeRPC, ImplServicebus, 64, 2, 6400),
		// rpc at 1 caller: its own floor, ratios 0.5, 0.6, 0.55.
		run(ModeRPC, ImplFloor, 1, 0, 2000),
		run(ModeRPC, ImplServicebus, 1, 0, 1000),
		run(ModeRPC, ImplFloor, 1, 1, 2000),
		run(ModeRPC, ImplServicebus, 1, 1, 1200),
		run(ModeRPC, ImplFloor, 1, 2, 2000),
		run(ModeRPC, ImplServicebus, 1, 2, 1100),
		// send at 64: its own floor, one round, ratio 0.9.
		run(ModeSend, ImplFloor, 64, 0, 1000),
		run(ModeSend, ImplServicebus, 64, 0, 900),
		// An experiment run where the floor was not: no ratio.
		run(ModeRPC, ImplMixAgent, 16, 0, 5000),
	}
	rows := summarize(runs)
	type want struct {
		mode, impl string
		c          int
		callsPerS  float64
		ratio      float64
	}
	wants := []want{
		{ModeRPC, ImplFloor, 64, 10000, 0},
		{ModeRPC, ImplServicebus, 64, 6400, 0.7},
		{ModeRPC, ImplFloor, 1, 2000, 0},
		{ModeRPC, ImplServicebus, 1, 1100, 0.55},
		{ModeSend, ImplFloor, 64, 1000, 0},
		{ModeSend, ImplServicebus, 64, 900, 0.9},
		{ModeRPC, ImplMixAgent, 16, 5000, 0},
	}
	if len(rows) != len(wants) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(wants), rows)
	}
	for i, w := range wants {
		r := rows[i]
		if r.Mode != w.mode || r.Impl != w.impl || r.Concurrency != w.c {
			t.Errorf("row %d is %s %s c=%d, want %s %s c=%d", i, r.Mode, r.Impl, r.Concurrency, w.mode, w.impl, w.c)
			continue
		}
		if r.CallsPerS != w.callsPerS {
			t.Errorf("%s %s c=%d: median run %v calls/s, want %v", w.mode, w.impl, w.c, r.CallsPerS, w.callsPerS)
		}
		// The figures of the median run come along with it.
		if r.Caller.CPUusPerCall != w.callsPerS/1000 {
			t.Errorf("%s %s c=%d: caller cpu %v of another run", w.mode, w.impl, w.c, r.Caller.CPUusPerCall)
		}
		if r.Ratio != w.ratio {
			t.Errorf("%s %s c=%d: ratio %v, want %v", w.mode, w.impl, w.c, r.Ratio, w.ratio)
		}
	}
}

func TestRatioSkipsRoundsWithoutFloor(t *testing.T) {
	// The floor failed in round 1 (no run): rounds 0 and 2 pair, ratios
	// 0.5 and 0.9; the upper middle of two is 0.9.
	rows := summarize([]Row{
		run(ModeRPC, ImplFloor, 4, 0, 1000),
		run(ModeRPC, ImplServicebus, 4, 0, 500),
		run(ModeRPC, ImplServicebus, 4, 1, 100),
		run(ModeRPC, ImplFloor, 4, 2, 1000),
		run(ModeRPC, ImplServicebus, 4, 2, 900),
	})
	if len(rows) != 2 || rows[1].Ratio != 0.9 {
		t.Fatalf("rows %+v, want servicebus ratio 0.9", rows)
	}
}
