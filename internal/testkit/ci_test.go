package testkit_test

import (
	"runtime"
	"testing"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

func TestInCIIsAnyValueButEmptyFalseOrZero(t *testing.T) {
	for value, want := range map[string]bool{
		"": false, "false": false, "0": false,
		"true": true, "1": true, "yes": true, "TRUE": true, "github": true,
	} {
		t.Setenv("CI", value)
		if got := testkit.InCI(); got != want {
			t.Errorf("CI=%q: InCI() = %v, want %v", value, got, want)
		}
	}
}

// outcome records whether a check failed or skipped the test it was given.
type outcome struct {
	testing.TB
	skipped, failed bool
}

func (o *outcome) Helper()               {}
func (o *outcome) Skip(...any)           { o.skipped = true; runtime.Goexit() }
func (o *outcome) Skipf(string, ...any)  { o.skipped = true; runtime.Goexit() }
func (o *outcome) Fatal(...any)          { o.failed = true; runtime.Goexit() }
func (o *outcome) Fatalf(string, ...any) { o.failed = true; runtime.Goexit() }

func runCheck(t *testing.T, check func(testing.TB)) *outcome {
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(o)
	}()
	<-done
	return o
}

// With SERVICEBUS_TEST_URL pointing at no broker, every CI value fails the
// test and every non-CI value skips it: CI=1 no longer skips silently.
func TestRequireBrokerWithoutABrokerFailsUnderAnyCIValue(t *testing.T) {
	t.Setenv("SERVICEBUS_TEST_URL", "amqp://guest:guest@127.0.0.1:1/")
	for _, value := range []string{"", "false", "0", "true", "1", "yes"} {
		t.Setenv("CI", value)
		o := runCheck(t, func(tb testing.TB) { brokertest.RequireBroker(tb) })
		if want := testkit.InCI(); o.failed != want || o.skipped == want {
			t.Errorf("CI=%q: failed %v, skipped %v; want failed %v", value, o.failed, o.skipped, want)
		}
	}
}
