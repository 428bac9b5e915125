package bench

import (
	"runtime"
	"testing"
	"time"
)

var sink [][]byte

func TestReadUsageCountsThisProcess(t *testing.T) {
	before := readUsage()
	const objects, size = 10000, 64
	for range objects {
		sink = append(sink, make([]byte, size))
	}
	block := make(chan struct{})
	const parked = 50
	for range parked {
		go func() { <-block }()
	}
	defer close(block)
	// Spin until the CPU counter moved by 20 ms: getrusage counts in ticks.
	deadline := time.Now().Add(10 * time.Second)
	for processCPU()-before.CPU < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatal("CPU time did not move within 10s of spinning")
		}
	}
	runtime.GC() // the live heap is what the last GC marked
	after := readUsage()
	sink = nil
	if d := after.Allocs - before.Allocs; d < objects {
		t.Errorf("%d allocations counted, want at least %d", d, objects)
	}
	if d := after.AllocBytes - before.AllocBytes; d < objects*size {
		t.Errorf("%d bytes counted, want at least %d", d, objects*size)
	}
	if after.CPU-before.CPU < 20*time.Millisecond {
		t.Errorf("CPU %v -> %v", before.CPU, after.CPU)
	}
	// At least the parked ones and this test's own: not before+parked,
	// since goroutines of earlier tests may end meanwhile (12 -> 61 once).
	if after.Goroutines < parked+1 {
		t.Errorf("goroutines %d -> %d with %d parked", before.Goroutines, after.Goroutines, parked)
	}
	if after.RSS == 0 || after.LiveHeap == 0 {
		t.Errorf("RSS %d, live heap %d: want both read", after.RSS, after.LiveHeap)
	}
}

func TestPerCallDividesEachCounterByTheCalls(t *testing.T) {
	before := Usage{CPU: time.Second, Allocs: 1000, AllocBytes: 100000}
	after := Usage{CPU: time.Second + 250*time.Millisecond, Allocs: 1000 + 4500, AllocBytes: 100000 + 1_000_000}
	got := perCall(before, after, 1000)
	if want := (Side{CPUusPerCall: 250, AllocsPerCall: 4.5, BytesPerCall: 1000}); got != want {
		t.Errorf("perCall = %+v, want %+v", got, want)
	}
	if got := perCall(before, after, 0); got != (Side{}) {
		t.Errorf("perCall of no calls = %+v", got)
	}
}
