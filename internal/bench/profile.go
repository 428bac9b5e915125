package bench

import (
	"errors"
	"fmt"
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
	return Profiles{CPU: add(p.CPU), Trace: add(p.Trace), Mutex: add(p.Mutex)}
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
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return stop, fmt.Errorf("bench: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("bench: cpu profile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if p.Trace != "" {
		f, err := os.Create(p.Trace)
		if err != nil {
			return stop, fmt.Errorf("bench: trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("bench: trace: %w", err)
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	if p.Mutex != "" {
		// Created now, so that a path that cannot be written fails the
		// run at once rather than after it.
		f, err := os.Create(p.Mutex)
		if err != nil {
			return stop, fmt.Errorf("bench: mutex profile: %w", err)
		}
		prev := runtime.SetMutexProfileFraction(1)
		stops = append(stops, func() error {
			err := pprof.Lookup("mutex").WriteTo(f, 0)
			runtime.SetMutexProfileFraction(prev)
			return errors.Join(err, f.Close())
		})
	}
	return stop, nil
}
