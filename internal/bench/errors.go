package bench

import "errors"

// ErrOptions is returned for options the bench cannot run: an unknown mode or
// implementation, a count below 1. It is the caller's fault, not the broker's.
var ErrOptions = errors.New("bench: bad options")

// ErrServerProcess is returned when the server process cannot be started,
// dies, or does not answer: the run has no server side to measure.
var ErrServerProcess = errors.New("bench: server process")

// ErrNotFlat is returned by Soak (with its report) when a sampled gauge left
// the tolerance after the warm-up.
var ErrNotFlat = errors.New("bench: soak not flat")
