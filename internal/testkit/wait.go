package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond every few milliseconds until it holds, and fails the
// test with what when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Receive waits for a value from ch and returns it, failing the test with
// what when none comes within timeout.
func Receive[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
	}
	t.Fatalf("timed out after %s: %s", timeout, what)
	var zero T
	return zero
}
