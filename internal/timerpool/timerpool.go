// Package timerpool reuses the timers that bound a wait for a publisher
// confirm. One such wait runs for every call on each side (the sender's
// request, the agent's reply), and a fresh time.NewTimer or
// context.WithTimeout costs three to five heap objects each time.
//
// A timer goes back to the pool only stopped and drained, so whoever gets it
// next starts from a clean timer: with Go 1.23's timer channels Stop already
// guarantees that no stale tick is received, and the drain in Put keeps that
// true for a program that asks for the older asynchronous channels
// (GODEBUG asynctimerchan=1).
package timerpool

import (
	"sync"
	"time"
)

var pool sync.Pool

// Get returns a timer that fires once after d.
func Get(d time.Duration) *time.Timer {
	if t, ok := pool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// Put stops t and keeps it for a later Get. The caller must not use t (nor
// its channel) afterwards.
func Put(t *time.Timer) {
	if !t.Stop() {
		// Fired: its tick was received, or (asynchronous channels only)
		// still waits in the channel.
		select {
		case <-t.C:
		default:
		}
	}
	pool.Put(t)
}
