package rpc

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// Stats counts what the sender refused from its reply queues since
// NewSender: input anyone who can publish to a reply queue controls.
type Stats struct {
	// BadReplies were dropped because their signature (hmac mode,
	// token.ReplyVerifier) was missing or wrong; the call stays pending
	// and its true reply still completes it.
	BadReplies uint64
	// OversizeReplies were over Codec.MaxBodySize: dropped unread, never
	// given to a call (which then ends at its deadline).
	OversizeReplies uint64
	// UnreadableReplies counts reply connections lost to a delivery
	// amqp091-go could not parse (headers nested too deep): each came back
	// on a fresh reply queue, and the calls waiting on it failed with
	// ErrConnectionLost.
	UnreadableReplies uint64
}

type senderStats struct {
	badReplies, oversizeReplies, unreadableReplies atomic.Uint64
}

// Stats returns the counters of refused replies.
func (s *Sender) Stats() Stats {
	return Stats{
		BadReplies:        s.stats.badReplies.Load(),
		OversizeReplies:   s.stats.oversizeReplies.Load(),
		UnreadableReplies: s.stats.unreadableReplies.Load(),
	}
}

// logRejection logs a refused reply at info level, rate-limited per kind
// (internal/ratelog): a flood of forged replies writes a few lines a second.
func (s *Sender) logRejection(kind, msg string, fields watermill.LogFields) {
	ok, held := s.rejectLog.Allow(kind, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		fields = fields.Add(watermill.LogFields{"suppressed": held})
	}
	s.logger.Info(msg, fields)
}

// releaseDelay gathers the big replies dropped close together into one
// release of memory.
const releaseDelay = 250 * time.Millisecond

// releaseMemorySoon gives the memory of dropped oversize replies back to the
// operating system shortly (debug.FreeOSMemory). amqp091-go assembles a body
// whole, growing a slice frame by frame, before anyone sees it: a 50 MB
// reply costs about 100 MB of heap for a moment, and once it is dropped an
// idle sender's runtime would keep those pages until its next GC cycles,
// minutes later. At most one release is pending at a time.
func (s *Sender) releaseMemorySoon() {
	if !s.releasing.CompareAndSwap(false, true) {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(releaseDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
		s.releasing.Store(false)
		debug.FreeOSMemory()
	}()
}
