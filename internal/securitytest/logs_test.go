package securitytest

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// logLine is one captured log call, rendered with its fields and error.
type logLine struct {
	Level string
	Text  string
}

// captureLog is a watermill.LoggerAdapter that keeps every line (all levels,
// Trace included) so tests can search them and check that no secret appears.
type captureLog struct {
	lines  *[]logLine
	fields watermill.LogFields
	// changed is closed and replaced at every new line.
	changed *chan struct{}
}

func newCaptureLog() *captureLog {
	ch := make(chan struct{})
	return &captureLog{lines: new([]logLine), changed: &ch}
}

func (c *captureLog) add(level, msg string, err error, fields watermill.LogFields) {
	all := watermill.LogFields{}
	for k, v := range c.fields {
		all[k] = v
	}
	for k, v := range fields {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, all[k])
	}
	if err != nil {
		fmt.Fprintf(&b, " err=%v", err)
	}
	shared.Lock()
	defer shared.Unlock()
	*c.lines = append(*c.lines, logLine{Level: level, Text: b.String()})
	close(*c.changed)
	ch := make(chan struct{})
	*c.changed = ch
}

// shared guards the slices that With-derived loggers share with their parent.
var shared sync.Mutex

func (c *captureLog) Error(msg string, err error, fields watermill.LogFields) {
	c.add("ERROR", msg, err, fields)
}
func (c *captureLog) Info(msg string, fields watermill.LogFields)  { c.add("INFO", msg, nil, fields) }
func (c *captureLog) Debug(msg string, fields watermill.LogFields) { c.add("DEBUG", msg, nil, fields) }
func (c *captureLog) Trace(msg string, fields watermill.LogFields) { c.add("TRACE", msg, nil, fields) }
func (c *captureLog) With(fields watermill.LogFields) watermill.LoggerAdapter {
	merged := watermill.LogFields{}
	for k, v := range c.fields {
		merged[k] = v
	}
	for k, v := range fields {
		merged[k] = v
	}
	return &captureLog{lines: c.lines, fields: merged, changed: c.changed}
}

// Lines is a copy of every line so far.
func (c *captureLog) Lines() []logLine {
	shared.Lock()
	defer shared.Unlock()
	return append([]logLine(nil), (*c.lines)...)
}

// All is every line joined, one per line.
func (c *captureLog) All() string {
	var b strings.Builder
	for _, l := range c.Lines() {
		b.WriteString(l.Level + " " + l.Text + "\n")
	}
	return b.String()
}

// Count is the number of lines containing every one of subs.
func (c *captureLog) Count(subs ...string) int {
	n := 0
	for _, l := range c.Lines() {
		if containsAll(strings.ToLower(l.Text), subs) {
			n++
		}
	}
	return n
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, strings.ToLower(sub)) {
			return false
		}
	}
	return true
}

// WaitFor waits until at least n lines contain every one of subs
// (case-insensitive), failing the test at the deadline.
func (c *captureLog) WaitFor(t testing.TB, timeout time.Duration, n int, subs ...string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		shared.Lock()
		ch := *c.changed
		shared.Unlock()
		if c.Count(subs...) >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no %d log lines with %q within %v; log:\n%s", n, subs, timeout, c.All())
		}
	}
}

var _ watermill.LoggerAdapter = (*captureLog)(nil)
