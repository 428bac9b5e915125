// Package rpc is the sender: it calls RPC services, sends messages to
// message services and pings nodes, addressed NODE.CATEGORY.NAME, over one
// connection per broker shared by every goroutine of the process.
//
// # Nomenclature
//
//   - target: NODE.CATEGORY.NAME. The last two dot-separated parts are
//     category and name, everything before is the node, so host-style node
//     names with dots work. The node is the routing key on the exchange.
//   - call: an event envelope published with reply_to and correlation_id;
//     the agent answers on reply_to with the same correlation_id.
//   - reply path: where replies of one broker connection come back — an
//     exclusive, server-named reply queue (ReplyQueue, the default) or
//     RabbitMQ direct reply-to (ReplyDirect).
//   - message: an event published without reply_to, persistent and confirmed.
//
// # Calls
//
// Call encodes a codec.Event with a fresh id (also the correlation id and
// AMQP message id), lets the Signer set the token and its headers, and
// publishes through the failover engine (failover.Publisher's, from
// internal/publish): mandatory, confirmed, transient, to
// the topology's exchange with routing key = node. The deadline (ctx's, or
// Config.CallTimeout) travels twice: as AMQP expiration (milliseconds left,
// so the broker drops a request nobody waits for) and as header
// x-sb-deadline (Unix milliseconds, so our agent skips it). Waiting calls are
// kept in a sharded correlation table; the reply consumer of each connection
// wakes the caller by correlation id. Replies with an unknown correlation id
// (late, after a timeout) or on another connection than the one the call went
// out on are dropped with a log line.
//
// There is one reply path per broker connection, never a queue per call. It
// is made in the connection's set-up and made again after every reconnect.
// When a connection dies, every call waiting for a reply on it fails at once
// with ErrConnectionLost (which matches ErrUnavailable; IsRetryable is true).
// Calls are not sent again on their own, because a service need not be
// idempotent: CallWith(..., WithResend(n)) opts in.
//
// # Replies and errors
//
// A reply with header x-sb-error-code (our agents) is a *RemoteError with
// that code and x-sb-error-message. A py-servicebus agent sends no header;
// its texts "Token not valid!" and "Cannot Find RPC Service: CAT.NAME" become
// RemoteErrors with codec.CodeBadToken and codec.CodeUnknownService. Every
// other reply is a *Reply holding the raw text: JSON from our agents,
// Python's str() of the result from py-servicebus (`{'a': 1}`, `None`).
//
// Refused replies. Whoever can publish to a reply queue chooses what comes
// back on it. The reply consumer drops a reply over Codec.MaxBodySize unread
// (the call keeps waiting) and, when the Signer is a token.ReplyVerifier
// (hmac mode), a reply without a good signature for the call it names; a
// delivery amqp091-go cannot parse costs the connection, which comes back
// on a fresh reply queue while the calls waiting on it fail with
// ErrConnectionLost. Each is counted in Stats and logged at most 10 times a
// second per kind (docs/security.md).
//
// Local failures are sentinels: ErrTimeout (also matches
// context.DeadlineExceeded), ErrNoRoute (the broker returned the mandatory
// publish: no queue for that node, reported within milliseconds),
// ErrUnavailable (no broker took the message before the deadline),
// ErrConnectionLost, ErrClosed, ErrBadTarget (before anything is sent).
//
// # Send and Ping
//
// Send publishes persistent (delivery mode 2), mandatory and confirmed, and
// returns once a broker confirmed it; a nack, a dead connection or a confirm
// timeout moves it to the next broker (at-least-once: a publish whose confirm
// was lost may arrive twice). Ping publishes the body PING with reply_to and
// measures the round trip to PONG; PingAll does that over every broker at
// once and says how many answered. Each ping waits for its PONG on an
// exclusive queue of its own, so a PONG without correlation id (a
// py-servicebus agent does not copy it) answers only the ping it belongs to.
//
// # Tracing
//
// Call and Send start OpenTelemetry spans (client, producer) with
// Config.TracerProvider and write the trace context into the request's
// headers with Config.Propagator (nil: the global ones, which do nothing
// until the program sets them); when the reply arrives, the call span links
// to the agent's process span, whose context the reply carries. See
// docs/tracing.md.
//
// # Where it is
//
// sender.go (Sender, NewSender, Close, Status), call.go (Call, CallWith),
// send.go, ping.go, replies.go (the reply consumer of each connection,
// what it refuses), stats.go (Stats, releasing dropped replies' memory),
// calls.go (the correlation table), reply.go (Reply and how a reply
// delivery becomes one), explain.go (why a call timed out), errors.go,
// target.go, config.go. docs/design.md follows a call through them.
//
// # Reply modes
//
// ReplyQueue works with every agent, including py-servicebus. ReplyDirect
// saves the queue: it consumes amq.rabbitmq.reply-to no-ack on the publishing
// channel itself (RabbitMQ requires the same channel), so the reply of a call
// is lost when that channel dies — the call then fails with
// ErrConnectionLost, like in queue mode.
package rpc
