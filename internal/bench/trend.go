package bench

import "time"

// Trend is one gauge over a soak's samples after the warm-up: where it
// started, its range, where it ended, and its least-squares slope, which
// shows a slow leak before it leaves the tolerance.
type Trend struct {
	Gauge     string  `json:"gauge"` // "caller RSS", "server live heap", ...
	First     float64 `json:"first"`
	Min       float64 `json:"min"`
	Max       float64 `json:"max"`
	Last      float64 `json:"last"`
	PerMinute float64 `json:"per_minute"` // slope of the least-squares line
}

// trends are the Trend of every gauge the samples after warmup have; none
// with fewer than two such samples.
func trends(samples []Sample, warmup time.Duration) []Trend {
	var out []Trend
	for _, g := range soakGauges() {
		var xs, ys []float64
		for _, smp := range samples {
			if v, ok := g.of(smp); ok && smp.Elapsed >= warmup {
				xs = append(xs, smp.Elapsed.Minutes())
				ys = append(ys, v)
			}
		}
		if len(ys) < 2 {
			continue
		}
		t := Trend{Gauge: g.name, First: ys[0], Min: ys[0], Max: ys[0], Last: ys[len(ys)-1]}
		var mx, my float64
		for i := range ys {
			t.Min, t.Max = min(t.Min, ys[i]), max(t.Max, ys[i])
			mx += xs[i]
			my += ys[i]
		}
		mx /= float64(len(xs))
		my /= float64(len(ys))
		var sxy, sxx float64
		for i := range xs {
			sxy += (xs[i] - mx) * (ys[i] - my)
			sxx += (xs[i] - mx) * (xs[i] - mx)
		}
		if sxx > 0 {
			t.PerMinute = sxy / sxx
		}
		out = append(out, t)
	}
	return out
}
