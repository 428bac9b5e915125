//go:build race

package timerpool

// raceEnabled: the race detector's sync.Pool drops a quarter of what is put
// back at random, so a pooled timer is sometimes made anew.
const raceEnabled = true
