package timerpool

import (
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

func TestATimerPutAfterFiringDoesNotFireAgainForTheNextGet(t *testing.T) {
	tm := Get(time.Millisecond)
	time.Sleep(5 * time.Millisecond) // fired, its tick not received
	Put(tm)
	next := Get(time.Hour)
	select {
	case <-next.C:
		t.Fatal("a reused timer delivered the tick of its earlier use")
	case <-time.After(20 * time.Millisecond):
	}
	Put(next)
}

func TestATimerPutBeforeFiringStillFiresAfterItsNewDuration(t *testing.T) {
	Put(Get(time.Hour))
	tm := Get(time.Millisecond)
	defer Put(tm)
	select {
	case <-tm.C:
	case <-time.After(5 * time.Second):
		t.Fatal("a reused timer did not fire")
	}
}

func TestGetAndPutAllocateNothingOnceTheTimerIsPooled(t *testing.T) {
	// Under the race detector sync.Pool drops a quarter of what is Put at
	// random, so a Get makes a new timer (3 objects) about one time in
	// four: 0.75 objects a run on average, which AllocsPerRun's whole
	// number reports as 0 over many runs. A pool that kept nothing would
	// be 3 a run with or without it.
	Put(Get(time.Hour))
	if n := testing.AllocsPerRun(1000, func() { Put(Get(time.Hour)) }); n > 0 {
		t.Errorf("Get and Put allocate %.0f objects a run (race detector: %v)", n, testkit.Race)
	}
}
