package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// Profiles names the profile files of a run, "" for none. The bench
// process writes these names; the server process writes them with
// ServerSuffix appended, so `go tool pprof FILE FILE.server` sees both
// sides (samples carry a "side" label: -tagfocus side=agent).
type Profiles struct {
	CPU   string `json:"cpu,omitempty"`
	Trace string `json:"trace,omitempty"`
	Mutex string `json:"mutex,omitempty"` // contention profile
	Alloc string `json:"alloc,omitempty"` // allocation sites (go tool pprof -sample_index=alloc_objects)
}

// ServerSuffix ends the names of the server process's profile files.
const ServerSuffix = ".server"

func (p Profiles) forServer() Profiles {
	add := func(s string) string {
		if s == "" {
			return ""
		}
		return s + ServerSuffix
	}
	return Profiles{CPU: add(p.CPU), Trace: add(p.Trace), Mutex: add(p.Mutex), Alloc: add(p.Alloc)}
}

// start starts the profiles of this process; stop writes and closes them.
func (p Profiles) start() (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	// record creates a file, starts a recording into it, and queues the
	// stop that finishes the recording and closes the file.
	record := func(name, what string, start func(io.Writer) error, finish func(io.Writer) error) error {
		if name == "" {
			return nil
		}
		f, err := os.Create(name)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", what, err)
		}
		if err := start(f); err != nil {
			f.Close()
			return fmt.Errorf("bench: %s: %w", what, err)
		}
		stops = append(stops, func() error { return errors.Join(finish(f), f.Close()) })
		return nil
	}
	prevFraction := 0
	err = errors.Join(
		record(p.CPU, "cpu profile", pprof.StartCPUProfile, func(io.Writer) error { pprof.StopCPUProfile(); return nil }),
		record(p.Trace, "trace", trace.Start, func(io.Writer) error { trace.Stop(); return nil }),
		// The mutex profile is written at the end; its file is created at
		// the start so that a path that cannot be written fails at once.
		record(p.Mutex, "mutex profile", func(io.Writer) error { prevFraction = runtime.SetMutexProfileFraction(1); return nil },
			func(w io.Writer) error {
				err := pprof.Lookup("mutex").WriteTo(w, 0)
				runtime.SetMutexProfileFraction(prevFraction)
				return err
			}),
		// The allocation profile counts from the process's start (warm-up
		// and set-up included), sampled at runtime.MemProfileRate.
		record(p.Alloc, "allocation profile", func(io.Writer) error { return nil },
			func(w io.Writer) error { return pprof.Lookup("allocs").WriteTo(w, 0) }),
	)
	if err != nil {
		return stop, err
	}
	return stop, nil
}
