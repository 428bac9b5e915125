package broker

import (
	"math/rand/v2"
	"time"
)

// Backoff is the wait between reconnect attempts: exponential from Initial to
// Max, each wait spread by ±Jitter (a fraction) so that many clients cut off
// at once do not come back at once.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
}

// DefaultReconnectMax is the longest wait of DefaultBackoff.
const DefaultReconnectMax = 2 * time.Second

// DefaultBackoff is the reconnect backoff used when none is configured:
// 100 ms doubling up to DefaultReconnectMax, ±20 %.
func DefaultBackoff() Backoff {
	return Backoff{Initial: 100 * time.Millisecond, Max: DefaultReconnectMax, Multiplier: 2, Jitter: 0.2}
}

// DefaultRetryBackoff paces new attempts of a publish that brokers refused:
// 25 ms doubling up to 1 s, ±50 %.
func DefaultRetryBackoff() Backoff {
	return Backoff{Initial: 25 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.5}
}

func (b Backoff) withDefaults() Backoff {
	d := DefaultBackoff()
	if b.Initial <= 0 {
		b.Initial = d.Initial
	}
	if b.Max <= 0 {
		b.Max = d.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = d.Multiplier
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		b.Jitter = d.Jitter
	}
	return b
}

// Delay is the wait before attempt n (0 is the first retry).
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	d := float64(b.Initial)
	for i := 0; i < attempt && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}
