package router

import (
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// Rejections of bad input are logged, but a flood of them must not flood
// the log: per kind, at most rejectLogBurst lines each rejectLogWindow; the
// next line let through says how many were held back.
const (
	rejectLogBurst  = 10
	rejectLogWindow = time.Second
)

type rateLog struct {
	mu    sync.Mutex
	kinds map[string]*rateWindow
}

type rateWindow struct {
	start      time.Time
	n          int // lines let through in this window
	suppressed int // lines held back since the last one let through
}

// allow reports whether a line of kind may be logged now, and how many were
// held back before it.
func (r *rateLog) allow(kind string, now time.Time) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]*rateWindow{}
	}
	w := r.kinds[kind]
	if w == nil {
		w = &rateWindow{start: now}
		r.kinds[kind] = w
	}
	if now.Sub(w.start) >= rejectLogWindow {
		w.start, w.n = now, 0
	}
	if w.n >= rejectLogBurst {
		w.suppressed++
		return false, 0
	}
	w.n++
	held := w.suppressed
	w.suppressed = 0
	return true, held
}

// logRejection logs a rejection of untrusted input at info level (error
// level when err is set), rate-limited per kind. Fields must be bounded by
// the caller (clipLog).
func (a *Agent) logRejection(kind, msg string, err error, fields watermill.LogFields) {
	ok, held := a.rejectLog.allow(kind, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		fields = fields.Add(watermill.LogFields{"suppressed": held})
	}
	if err != nil {
		a.logger.Error(msg, err, fields)
		return
	}
	a.logger.Info(msg, fields)
}
