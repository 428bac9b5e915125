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
// # Flow of a delivery
//
// Each path (one per broker, reconnecting by itself with backoff) declares
// the topology on every connect (topology.Topology.DeclareNodeQueue), sets the
// prefetch to Concurrency and consumes the node queue. The consume loop of
// every path hands deliveries to the Watermill router through one subscriber
// of our own, after taking a token of a semaphore of Concurrency tokens shared
// by all paths: at most Concurrency deliveries are in flight per agent. (The
// watermill-amqp subscriber would hand over one delivery at a time.) The
// router runs each message's handler in a goroutine of its own, so
// deliveries run concurrently. Deliveries with reply_to go to the RPC handler
// (HandlerRPC), the others to the message handler (HandlerMessage).
//
// Each message keeps a reference to its delivery and path: once the router
// acks or nacks the message, the delivery is acked or rejected on the channel
// it came on, and an RPC's reply goes out on the broker the call came from.
//
// # Middleware
//
// In order of execution:
//
//	answer (RPC) / recover (message)   a panic becomes an error (CodePanic), logged with its stack;
//	                                   for RPCs every error becomes an error reply
//	decode                             PING with reply_to -> PONG; codec.DecodeEvent with Config.Codec
//	token                              Config.Tokens.Validate with the delivery's headers
//	deadline                           x-sb-deadline, else AMQP timestamp+expiration (+1 s, the
//	                                   timestamp has whole seconds): passed -> not run; the
//	                                   deadline becomes the service context's deadline
//	retry (message only)               watermill middleware.Retry, Config.MessageRetry (default 3
//	                                   retries, 100 ms doubling to 2 s, ±50 % jitter); permanent
//	                                   errors (IsPermanent) are not retried. RPCs are not retried.
//	user middleware                    AddMiddleware, AddRPCMiddleware, AddMessageMiddleware:
//	                                   watermill's Timeout, CircuitBreaker, Throttle, ... work here
//	dispatch                           the service by category and name
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
// x-sb-error-message carry code and text for our own sender. A service picks
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
// Middleware finds the request with RequestFromContext. OnStart and OnExit
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
