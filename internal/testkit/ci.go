package testkit

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI: the CI variable is set to
// anything but "false" or "0". Runners export CI=true, CI=1 or CI=yes; each
// must turn a missing broker into a failure, never a silent skip.
func InCI() bool {
	switch os.Getenv("CI") {
	case "", "false", "0":
		return false
	}
	return true
}

// Unavailable ends a test that lacks what it needs (a broker, python3,
// RabbitMQ's binaries): a failure in CI, a skip elsewhere.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if InCI() {
		t.Fatal(msg + " (CI is set: a missing dependency is a failure)")
	}
	t.Skip(msg + " (set CI=true to make this a failure)")
}
