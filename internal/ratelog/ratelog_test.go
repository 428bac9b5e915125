package ratelog

import (
	"testing"
	"time"
)

func TestLimiterLetsABurstThroughAndCountsTheRest(t *testing.T) {
	var l Limiter
	t0 := time.Unix(1000, 0)
	for i := range Burst {
		if ok, held := l.Allow("bad", t0); !ok || held != 0 {
			t.Fatalf("line %d: %v, %d held", i, ok, held)
		}
	}
	for range 5 {
		if ok, _ := l.Allow("bad", t0.Add(Window/2)); ok {
			t.Fatal("line over the burst let through")
		}
	}
	if ok, _ := l.Allow("other", t0); !ok {
		t.Fatal("another kind held back")
	}
	ok, held := l.Allow("bad", t0.Add(Window))
	if !ok || held != 5 {
		t.Fatalf("next window: %v, %d held, want true, 5", ok, held)
	}
}
