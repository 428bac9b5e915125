package rpc

import (
	"context"
	"testing"
	"time"
)

// The call path's own steps that allocated more before (internal/bench
// measures the whole call against a broker): a caller's context with a
// deadline is used as it is, no options cost nothing, and an id is one
// string.
func TestCallStepsAllocateNoMoreThanTheyMust(t *testing.T) {
	s := &Sender{idPrefix: "0123456789abcdef-"}
	s.seq.Store(1 << 60) // an id of full length
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	steps := []struct {
		name   string
		budget float64
		run    func()
	}{
		{"withDeadline over a deadline", 0, func() {
			c, cancel := s.withDeadline(ctx)
			cancel()
			_ = c
		}},
		{"applyCallOptions without options", 0, func() { _ = applyCallOptions(nil) }},
		{"newID", 1, func() { _ = s.newID() }},
	}
	for _, step := range steps {
		if got := testing.AllocsPerRun(100, step.run); got > step.budget {
			t.Errorf("%s: %.0f allocations, budget %.0f", step.name, got, step.budget)
		}
	}
	if got := applyCallOptions([]CallOption{WithResend(2)}); got.resend != 2 {
		t.Errorf("WithResend(2) gave resend %d", got.resend)
	}
}
