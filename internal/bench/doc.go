// Package bench measures servicebus against plain amqp091-go on one broker:
// the engine of `servicebus bench`. The CLI parses flags and prints; this
// package starts the implementations, drives the calls and measures them.
//
// # What is measured
//
// Every implementation has a caller side and, for RPC, a server side:
//
//	impl                         caller side                     server side
//	amqp091 (the floor)          plain client, one reply queue   plain server: reply, then ack
//	servicebus                   rpc.Sender                      router.Agent
//	amqp091+confirms             the floor client with confirms  the floor server, replies confirmed
//	amqp091+tracecontext         amqp091+confirms' client and    its server, with a traceparent
//	                             a traceparent header            header on every reply
//	amqp091+unconfirmed-replies  amqp091+confirms' client        reply unconfirmed, then ack
//	amqp091+unconfirmed          amqp091+confirms' client        reply unconfirmed, then ack
//	                             without confirms (mandatory,
//	                             expiration, deadline header)
//	mix:amqp091-client+agent     plain client, XML envelope      router.Agent
//	mix:sender+amqp091-server    rpc.Sender                      plain server, XML envelope
//
// Send mode has a caller side only: confirmed publishes to a queue nobody
// consumes, by the floor, servicebus and amqp091+tracecontext (the floor's
// publishes with a traceparent header).
//
// # Method
//
// The server sides run in a child process of the bench (the server process:
// the same binary, re-executed), the caller sides in the bench process, so
// that each side's cost is what its own process used: CPU from getrusage,
// heap allocations from runtime.ReadMemStats, both read just before and just
// after a run and divided by the calls of the run. Every implementation gets
// the same treatment, so the ratio stays fair. The caller side also counts
// the bench's own per-call work (a context with a deadline, a clock read),
// the same for every implementation.
//
// A run makes a short warm-up, then N calls from C goroutines. Rounds rotate
// which implementation goes first, so drift of a shared machine hits all
// alike. A summary row is the round of median throughput; its ratio is the
// median over rounds of the per-round ratio of calls/s to the floor's run of
// the same mode, concurrency and round (see summarize).
//
// # Soak
//
// Soak makes millions of calls at one concurrency and samples RSS, the live
// Go heap and goroutines of both processes at an interval, at rest: the
// callers pause until the calls in flight are answered and both processes
// free their garbage first, so that samples compare like with like. After a
// warm-up every sample must stay within a tolerance of the first one after
// it.
package bench
