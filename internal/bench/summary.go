package bench

import (
	"cmp"
	"math"
	"slices"
)

// Row is one measured run, or the summary of a run's rounds; its JSON form
// is a row of `servicebus bench --json`.
type Row struct {
	Mode        string  `json:"mode"` // ModeRPC or ModeSend
	Impl        string  `json:"impl"`
	Concurrency int     `json:"concurrency"`
	CallsPerS   float64 `json:"calls_per_s"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	// CPUusPerCall is the CPU of both sides per call (caller and server
	// process): what the implementation costs in Go, apart from the broker.
	CPUusPerCall float64 `json:"cpu_us_per_call"`
	// Caller is the caller side's cost (rpc.Sender, the floor client),
	// measured in the bench process.
	Caller Side `json:"caller"`
	// Server is the server side's cost (router.Agent, the floor server),
	// measured in the server process; nil in send mode, which has none.
	Server *Side `json:"server,omitempty"`
	// BrokerCPUusPerCall is the broker process's CPU per call during the
	// run, when the broker runs on this machine and /proc shows it
	// (brokercpu.go); 0 when unknown.
	BrokerCPUusPerCall float64 `json:"broker_cpu_us_per_call,omitempty"`
	// Ratio is calls/s relative to the floor (ImplFloor) at the same mode and
	// concurrency: the median over rounds of the per-round ratio. 0 for the
	// floor itself and where the floor was not run.
	Ratio float64 `json:"ratio,omitempty"`

	round int // the round of a measured run, from 0
}

// summarize folds the measured runs of every (mode, concurrency, impl) into
// one row: the round of median throughput, with its Ratio to the floor. The
// ratio is taken round by round, each run against the floor's run of the
// same round (next to it in time, so both met the same machine), and the
// median of those ratios is reported: steadier than a ratio of medians when
// the machine's load drifts. A round without a floor run has no ratio. The
// median of an even count is the upper middle value. Rows come out in the
// order their (mode, concurrency, impl) first appears.
func summarize(runs []Row) []Row {
	type key struct {
		mode string
		c    int
		impl string
	}
	var order []key
	byKey := map[key][]Row{}
	for _, r := range runs {
		k := key{r.Mode, r.Concurrency, r.Impl}
		if _, seen := byKey[k]; !seen {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	out := make([]Row, 0, len(order))
	for _, k := range order {
		rounds := byKey[k]
		row := medianRow(rounds)
		row.round = 0
		if k.impl != ImplFloor {
			floor := map[int]float64{}
			for _, f := range byKey[key{k.mode, k.c, ImplFloor}] {
				floor[f.round] = f.CallsPerS
			}
			var ratios []float64
			for _, r := range rounds {
				if f, ok := floor[r.round]; ok && f > 0 {
					ratios = append(ratios, r.CallsPerS/f)
				}
			}
			if len(ratios) > 0 {
				slices.Sort(ratios)
				row.Ratio = math.Round(ratios[len(ratios)/2]*1000) / 1000
			}
		}
		out = append(out, row)
	}
	return out
}

// medianRow is the round with the median throughput.
func medianRow(rounds []Row) Row {
	sorted := slices.Clone(rounds)
	slices.SortStableFunc(sorted, func(a, b Row) int { return cmp.Compare(a.CallsPerS, b.CallsPerS) })
	return sorted[len(sorted)/2]
}
