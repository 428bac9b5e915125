// Package ratelog bounds how often a kind of log line is written: rejections
// of untrusted input are logged, but a flood of them must not flood the log.
package ratelog

import (
	"sync"
	"time"
)

// Per kind, at most Burst lines each Window; the next line let through says
// how many were held back.
const (
	Burst  = 10
	Window = time.Second
)

// Limiter decides, per kind of line, which lines are written. The zero
// value is ready; it is safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	kinds map[string]*window
}

type window struct {
	start      time.Time
	n          int // lines let through in this window
	suppressed int // lines held back since the last one let through
}

// Allow reports whether a line of kind may be logged now, and how many were
// held back before it.
func (l *Limiter) Allow(kind string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = map[string]*window{}
	}
	w := l.kinds[kind]
	if w == nil {
		w = &window{start: now}
		l.kinds[kind] = w
	}
	if now.Sub(w.start) >= Window {
		w.start, w.n = now, 0
	}
	if w.n >= Burst {
		w.suppressed++
		return false, 0
	}
	w.n++
	held := w.suppressed
	w.suppressed = 0
	return true, held
}
