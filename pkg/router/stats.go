package router

import "sync/atomic"

// Stats counts what an agent did since it was made. Every field but
// InFlight and Consuming only grows.
type Stats struct {
	Received         uint64 // deliveries handed to the middleware
	Replies          uint64 // RPC replies published (results, errors, PONGs)
	Pongs            uint64 // PING requests answered
	Acked            uint64 // deliveries acked
	Rejected         uint64 // deliveries rejected without requeue (dead-lettered where a DLX exists)
	Requeued         uint64 // deliveries given back to the broker (shutdown, failed reply)
	Malformed        uint64 // bodies that did not decode
	TooLarge         uint64 // bodies over Codec.MaxBodySize
	BadToken         uint64 // calls whose credentials did not validate
	UnknownService   uint64 // calls of services the node does not have
	DeadlineExceeded uint64 // calls not run because their deadline had passed
	ServiceErrors    uint64 // services that returned an error (after retries)
	Panics           uint64 // services that panicked
	ReplyFailures    uint64 // replies that could not be published
	Unreadable       uint64 // deliveries no Go client can parse, taken off the queue (see unreadable.go)
	Poisoned         uint64 // deliveries rejected unrun: publishing their reply closed the connection twice (poison.go)
	InFlight         int    // deliveries being worked on now
	Consuming        int    // brokers whose node queue is consumed now
}

type counters struct {
	received, replies, pongs, acked, rejected, requeued atomic.Uint64
	malformed, tooLarge, badToken, unknown, deadline    atomic.Uint64
	serviceErrors, panics, replyFailures, unreadable    atomic.Uint64
	poisoned                                            atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Received:         c.received.Load(),
		Replies:          c.replies.Load(),
		Pongs:            c.pongs.Load(),
		Acked:            c.acked.Load(),
		Rejected:         c.rejected.Load(),
		Requeued:         c.requeued.Load(),
		Malformed:        c.malformed.Load(),
		TooLarge:         c.tooLarge.Load(),
		BadToken:         c.badToken.Load(),
		UnknownService:   c.unknown.Load(),
		DeadlineExceeded: c.deadline.Load(),
		ServiceErrors:    c.serviceErrors.Load(),
		Panics:           c.panics.Load(),
		ReplyFailures:    c.replyFailures.Load(),
		Unreadable:       c.unreadable.Load(),
		Poisoned:         c.poisoned.Load(),
	}
}
