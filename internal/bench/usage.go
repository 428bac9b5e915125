package bench

import (
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

// Usage is what one process has used so far: counters that a measurement
// subtracts (CPU, allocations) and gauges that a soak samples.
type Usage struct {
	CPU        time.Duration `json:"cpu_ns"`      // user and system CPU since the process started
	Allocs     uint64        `json:"allocs"`      // heap objects allocated since start, as testing.AllocsPerRun counts them
	AllocBytes uint64        `json:"alloc_bytes"` // bytes of those objects
	RSS        uint64        `json:"rss"`         // resident set size in bytes; 0 where /proc is missing
	LiveHeap   uint64        `json:"live_heap"`   // heap bytes the last GC marked live: what a leak grows
	Goroutines uint64        `json:"goroutines"`
}

// usageMetrics are the gauges readUsage takes from runtime/metrics.
var usageMetrics = []string{
	"/gc/heap/live:bytes",
	"/sched/goroutines:goroutines",
}

// readUsage reads this process's usage. The allocation counters come from
// runtime.ReadMemStats, which flushes every P's allocation cache first:
// runtime/metrics counts an allocation only once its span leaves the
// cache, and over a short run that can miss thousands. ReadMemStats stops
// the world for some microseconds, which is why it is read only at the
// edges of a run, never during one.
func readUsage() Usage {
	samples := make([]metrics.Sample, len(usageMetrics))
	for i, name := range usageMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	value := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Usage{
		CPU:        processCPU(),
		Allocs:     ms.Mallocs,
		AllocBytes: ms.TotalAlloc,
		LiveHeap:   value(0),
		Goroutines: value(1),
		RSS:        residentBytes(),
	}
}

// processCPU is the user and system CPU time this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes is the current RSS from /proc/self/statm (getrusage gives
// only the peak, which cannot show memory coming back).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// Side is the cost of one side of an implementation per call, measured in
// its own process.
type Side struct {
	CPUusPerCall  float64 `json:"cpu_us_per_call"`
	AllocsPerCall float64 `json:"allocs_per_call"`
	BytesPerCall  float64 `json:"bytes_per_call"`
}

// perCall is the cost per call between two readings of one process.
func perCall(before, after Usage, calls int) Side {
	if calls <= 0 {
		return Side{}
	}
	n := float64(calls)
	return Side{
		CPUusPerCall:  round1(float64(after.CPU-before.CPU) / float64(time.Microsecond) / n),
		AllocsPerCall: round1(float64(after.Allocs-before.Allocs) / n),
		BytesPerCall:  round1(float64(after.AllocBytes-before.AllocBytes) / n),
	}
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
