package testkit

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records its message and ends
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestReceiveReturnsTheValueOrFailsAtTheDeadline(t *testing.T) {
	ch := make(chan int, 1)
	ch <- 7
	if got := Receive(t, ch, time.Second, "seven"); got != 7 {
		t.Fatalf("Receive = %d, want 7", got)
	}

	f := &fatalRecorder{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		Receive(f, make(chan int), 20*time.Millisecond, "nothing came")
		f.msg = "Receive returned"
	}()
	<-done
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("gave up after %s, before the 20ms deadline", took)
	}
	if !strings.Contains(f.msg, "nothing came") {
		t.Errorf("failure %q does not say what was awaited", f.msg)
	}
}
