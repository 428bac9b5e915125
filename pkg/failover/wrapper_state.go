package failover

import (
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// wrappedPublisher is one publisher of a Wrapper and its health: failures in a row,
// the backoff they earned, and publishes abandoned on it that have not
// returned.
type wrappedPublisher struct {
	pub    message.Publisher
	name   string
	logger watermill.LoggerAdapter

	mu       sync.Mutex
	failures int       // in a row; 0 means healthy
	failedAt time.Time // of the latest failure
	retryAt  time.Time // skipped until then
	lastErr  error
	stuck    int // publishes abandoned after AttemptTimeout that have not returned
}

// wrapperAttempt is one attempt's hand-over between the goroutine that publishes and
// the caller that waits for it; its flags are guarded by the publisher's mu.
type wrapperAttempt struct {
	done      chan error // buffered: the goroutine never blocks on it
	finished  bool       // the goroutine has a result for the caller
	abandoned bool       // the caller stopped waiting
	stuck     bool       // abandoned after AttemptTimeout: counted in stuck
}

// skip says why p is not to be tried now, or nil. backoff is true when the
// reason is only p's backoff, which a message nobody else takes overrides.
func (p *wrappedPublisher) skip(now time.Time) (err error, backoff bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stuck > 0 {
		// Trying it again would most likely cost another AttemptTimeout.
		return fmt.Errorf("skipped: %d earlier publish(es) on it hung and have not returned: %w", p.stuck, ErrAttemptTimeout), false
	}
	if now.Before(p.retryAt) {
		return fmt.Errorf("skipped for %s more after %d failure(s) in a row, the last: %w",
			p.retryAt.Sub(now).Round(time.Millisecond), p.failures, p.lastErr), true
	}
	return nil, false
}

// record notes the outcome of an attempt that started at start. A failure
// of an attempt that started before p's latest failure is the same incident
// and does not lengthen the backoff; nor does such an attempt's success
// clear it.
func (p *wrappedPublisher) record(start time.Time, err error, b broker.Backoff) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	fresh := p.failures == 0 || start.After(p.failedAt)
	if err == nil {
		if p.failures > 0 && fresh {
			p.logger.Info("Publisher took a message again", watermill.LogFields{"failures_before": p.failures})
			p.failures, p.retryAt, p.lastErr = 0, time.Time{}, nil
		}
		return
	}
	p.lastErr = err
	p.failedAt = now
	if !fresh {
		return
	}
	p.failures++
	delay := b.Delay(p.failures - 1)
	if at := now.Add(delay); at.After(p.retryAt) {
		p.retryAt = at
	}
	p.logger.Error("Publisher failed, skipped for its backoff", err, watermill.LogFields{"failures": p.failures, "backoff": delay})
}

// finish is called by the attempt's goroutine when the wrapped Publish has
// returned; it reports whether the caller still waits for the result.
func (p *wrappedPublisher) finish(a *wrapperAttempt) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.abandoned {
		if a.stuck {
			p.stuck--
		}
		return false
	}
	a.finished = true
	return true
}

// abandon is called by the caller when it stops waiting; it reports false
// when the result came in meanwhile (it is then in a.done). stuck counts the
// attempt as a hung publish of p until it returns.
func (p *wrappedPublisher) abandon(a *wrapperAttempt, stuck bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.finished {
		return false
	}
	a.abandoned, a.stuck = true, stuck
	if stuck {
		p.stuck++
	}
	return true
}

// lateResult logs the outcome of an abandoned publish.
func (p *wrappedPublisher) lateResult(uuid string, err error) {
	if err == nil {
		p.logger.Info("Abandoned publish returned: the message went out late (it may also have gone out on another publisher)", watermill.LogFields{"message_uuid": uuid})
		return
	}
	p.logger.Info("Abandoned publish returned with an error", watermill.LogFields{"message_uuid": uuid, "err": err.Error()})
}
