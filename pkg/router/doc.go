// Package router is the agent of servicebus (py-servicebus's Agent Server):
// it consumes a node's queue on every configured broker at once and runs the
// node's RPC and message services as handlers on a Watermill message.Router.
//
// # Nomenclature
//
//	router / servicebus     py-servicebus              AMQP
//	Agent                   Agent Server               consumer of the node queue on every broker
//	node (Config.NodeName)  node_name                  queue name and routing key
//	path                    host connection            one connection per broker (broker.Path)
//	RPCService              add_rpc_service            delivery with reply_to; reply to exchange "" key reply_to
//	MessageService          add_message_service        delivery without reply_to
//	Request.Sender          request.get_sender()       —
//	Concurrency             —                          prefetch (basic.qos) per broker, and the in-flight bound
//
// # Handlers
//
// Every service is a Watermill handler of its own on the agent's router
// (Agent.Router), named RPCHandlerName or MessageHandlerName:
// "rpc:math.add", "message:util.print". Watermill's per-handler tools see
// the services: handler middleware (AddRPCService returns the handler and
// takes middleware for that service alone), router.Handlers(), and
// components/metrics, whose handler_name label is the handler's name. Two
// catch-all handlers, HandlerRPC and HandlerMessage, take what no service
// handler takes: PING, bodies that do not decode, unknown services, and a
// message to a name that only an RPC service has (which runs it and drops
// the result). Services may be added while the agent runs: their handlers
// start at once (RunHandlers).
//
// servicebus adds no router-wide middleware: a handler of your own on the
// agent's router, with any subscriber (a gochannel, a watermill-amqp
// subscriber), runs untouched next to the services.
//
// # Flow of a delivery
//
// Each path (one per broker, reconnecting by itself with backoff) declares
// the topology on every connect (topology.Topology.DeclareNodeQueue), sets the
// prefetch to Concurrency and consumes the node queue. The consume loop of
// every path takes a token of a semaphore of Concurrency tokens shared by
// all paths (at most Concurrency deliveries are in flight per agent), makes
// the delivery a Watermill message (codec.Marshaler: the AMQP properties as
// metadata), parses its body and hands it to the handler of its service
// through the agent's subscriber: a delivery with reply_to to the RPC
// handler, one without to the message handler. (The watermill-amqp
// subscriber would hand over one delivery at a time.) The router runs each
// message in a goroutine of its own, so deliveries run concurrently.
//
// Each message keeps a reference to its delivery and path: once the router
// acks or nacks the message, the delivery is acked or rejected on the channel
// it came on (ack.go), and an RPC's reply goes out on the broker the call
// came from.
//
// With OpenTelemetry (Config.TracerProvider and Propagator, else the global
// ones), each delivery but a PING gets a process span, a child of the trace
// context in its headers, that lasts until it is settled; the message's
// context (the service's ctx) carries it, so calls through Request.Sender
// are its children, and the reply's headers carry its context back to the
// caller (tracing.go; docs/tracing.md).
//
// # Middleware
//
// The built-in middleware are exported, one type a file, each with a
// Middleware method of Watermill's HandlerMiddleware type. They work on a
// plain *message.Message (payload and codec.Marshaler metadata), so they
// compose on any Watermill router; Builtin lists them in the agent's order.
// On every handler of the agent, in order of execution:
//
//	Answer (RPC)        a panic or an error below becomes an error reply: every call is answered
//	Recover (message)   a panic becomes a permanent error: rejected, not redelivered to panic again
//	Decode              PING with reply_to -> PONG; the envelope -> *Request in the context
//	                    (in an agent: the subscriber's parse, taken as it is); undecodable -> bad_request
//	Token               Config.Tokens (a token.Validator) over the envelope and the metadata
//	Deadline            x-sb-deadline, else AMQP timestamp+expiration (+1 s, the timestamp has
//	                    whole seconds): passed -> not run; else the context's deadline
//	Retry (message)     Watermill's middleware.Retry with Config.MessageRetry (default 3 retries,
//	                    100 ms doubling to 2 s, ±50 % jitter); permanent errors (IsPermanent) are
//	                    not retried. RPCs are not retried.
//	the agent's         AddMiddleware, AddRPCMiddleware, AddMessageMiddleware: every service's
//	the service's own   AddRPCService(..., m...), or the returned handler's AddMiddleware
//	service             HandleRPC / HandleMessage: the service, its result as the reply
//
// Router-level middleware that you add to Agent.Router() (Watermill's
// metrics do) runs on the agent's handlers too, where Watermill puts it:
// outside the built-in middleware of handlers added after it, inside those
// added before. Every built-in middleware tells an Observer what it did
// (Outcome); the agent's counts (Stats), logs (rate-limited) and marks bad
// input to be rejected after its answer.
//
// # Acks and replies
//
// An RPC is acked after its reply was published and confirmed by the broker
// (publisher confirms on a long-lived reply channel per connection, guarded
// by a mutex; never a channel per message). Replies go to exchange "" with
// routing key reply_to and the call's correlation_id; the body is the
// py-servicebus response envelope holding the result as JSON. Every RPC is
// answered, errors included: the body then holds the text a py-servicebus
// caller knows ("Token not valid!", "Cannot Find RPC Service: CAT.NAME",
// else the error's text) and the headers x-sb-error-code and
// x-sb-error-message carry code and text for our own sender. When
// Config.Tokens is a token.ReplySigner (hmac mode) every reply also carries
// x-sb-sig, its signature over the call's id, the correlation id, the body
// and those two headers, which our sender checks. A service picks
// the code by returning an *Error (NewError, Errorf); other errors are
// CodeServiceError, or CodeDeadlineExceeded when they wrap
// context.DeadlineExceeded. A call whose deadline had passed is answered with
// CodeDeadlineExceeded: the caller may still wait (clocks differ) and our
// sender drops replies it no longer expects, so an answer costs nothing.
//
// An RPC whose body did not decode or whose token did not validate is
// answered and then rejected without requeue instead of acked, like any bad
// input (dead-lettered in durable topology).
//
// A message is acked after its service returned nil. A service error (after
// the retries), a panic, an unknown service, an undecodable or over-limit
// body, a bad token or a passed deadline rejects it without requeue: the
// broker drops it in compat topology and dead-letters it in durable topology.
// If a reply cannot be published the call is requeued once (not when it was
// already redelivered). Undecodable input never stops the agent; Stats counts
// every outcome.
//
// A message sent to a node that has no message service of that name but an
// RPC service runs the RPC service and drops its result. A call (with
// reply_to) only ever runs RPC services: a name that has only a message
// service is answered "Cannot Find RPC Service: CAT.NAME", as py-servicebus
// does.
//
// # Services and requests
//
// Services are added by category and name (AddRPCService, AddMessageService;
// RPC and Message adapt functions of typed params) at any time, also while
// the agent runs. A service gets the message's context (cancelled when the
// caller's deadline passes or when Close gives up on it) and a *Request: the
// envelope (ID, Category, Service, Token, Params and Decode), the delivery's
// Metadata (broker, redelivered, reply_to, correlation id, deadline, every
// header as text) and Sender, the agent's Caller (Config.Caller, an
// *rpc.Sender in the root package's wiring) for calls to other services.
// Middleware after Decode finds the request with RequestFromContext. OnStart and OnExit
// add hooks run by Start (before consuming) and Close (after the drain).
//
// # Counters
//
// Stats returns counters of every outcome (received, replies, acked,
// rejected, requeued, malformed, too large, bad token, unknown service,
// deadline exceeded, service errors, panics, reply failures) and the
// deliveries in flight and brokers consumed right now.
//
// # Close
//
// Close stops handing over deliveries, cancels the consumer on every broker
// (basic.cancel), waits up to DrainTimeout for the work in flight to finish
// (and be acked), then closes the router and the connections. Work still
// running after DrainTimeout gets its context cancelled; what does not end
// within a second after that is left behind and its delivery returns to the
// broker when the connection closes (never lost, maybe run twice). Close is
// idempotent and no goroutine of the agent outlives it.
//
// # Unreadable deliveries
//
// A delivery amqp091-go cannot parse (headers nested deeper than 32 levels)
// kills the consuming connection before it can be acked or rejected, and the
// broker hands it out again at every connect. Durable topology ends that with
// the queue's delivery limit. In compat topology, after two connections lost
// this way in a row, the path takes messages off the queue head with
// basic.get and no ack before consuming again: readable ones are put back at
// the tail (confirmed), the unreadable one is dropped by the broker, logged
// as an error and counted in Stats.Unreadable.
package router
