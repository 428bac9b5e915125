package timerpool

import (
	"testing"
	"time"
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
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops timers at random")
	}
	Put(Get(time.Hour))
	if n := testing.AllocsPerRun(100, func() { Put(Get(time.Hour)) }); n > 0 {
		t.Errorf("Get and Put allocate %.0f objects", n)
	}
}
