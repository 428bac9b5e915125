package router

import (
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// logRejection logs a rejection of untrusted input at info level (error
// level when err is set), rate-limited per kind (internal/ratelog: at most 10
// lines a second, the next one saying how many were held back). Fields must
// be bounded by the caller (clipLog).
func (a *Agent) logRejection(kind, msg string, err error, fields watermill.LogFields) {
	ok, held := a.rejectLog.Allow(kind, time.Now())
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
