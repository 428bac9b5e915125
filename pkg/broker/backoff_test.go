package broker

import (
	"testing"
	"time"
)

func TestBackoffGrowsToMaxWithinJitter(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: 0.2}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		for range 50 {
			d := b.Delay(i)
			lo, hi := time.Duration(float64(w)*0.8), time.Duration(float64(w)*1.2)
			if d < lo || d > hi {
				t.Fatalf("Delay(%d) = %s, want within [%s, %s]", i, d, lo, hi)
			}
		}
	}
}

func TestBackoffZeroValueUsesDefaults(t *testing.T) {
	var b Backoff
	d := DefaultBackoff()
	if got := b.Delay(100); got > time.Duration(float64(d.Max)*(1+d.Jitter)) || got <= 0 {
		t.Fatalf("zero Backoff Delay(100) = %s, want at most %s", got, d.Max)
	}
}

func TestBackoffJitterSpreadsWaits(t *testing.T) {
	b := DefaultBackoff()
	seen := map[time.Duration]bool{}
	for range 20 {
		seen[b.Delay(3)] = true
	}
	if len(seen) < 2 {
		t.Fatalf("20 delays with jitter were all equal: %v", seen)
	}
}
