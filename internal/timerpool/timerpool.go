// Package timerpool reuses the timers that bound a wait for a publisher
// confirm. One such wait runs for every call on each side (the sender's
// request, the agent's reply), and a fresh time.NewTimer or
// context.WithTimeout costs three to five heap objects each time.
//
// A timer goes back to the pool only stopped, so whoever gets it next starts
// from a clean timer: with the synchronous timer channels of Go 1.23 and
// later (this module's default) no tick of an earlier use is received after
// Stop or Reset. Under GODEBUG asynctimerchan=1 Put also drains a tick
// already in the channel; one still being sent as Put runs could reach the
// next user, who would then stop waiting for its confirm early, as if it had
// timed out.
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
		// may wait in the channel.
		select {
		case <-t.C:
		default:
		}
	}
	pool.Put(t)
}
