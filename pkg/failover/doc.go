// Package failover publishes to several RabbitMQ brokers: each message goes
// to the first healthy one, and moves on to the next when a broker fails it.
//
// # Nomenclature
//
//	failover / servicebus   py-servicebus              AMQP
//	broker, path            a host and its connection  one connection per broker (pkg/broker)
//	Publisher               (sender's publish)         basic.publish, mandatory, with publisher
//	                                                   confirms, on the first ready connection
//	ErrNoRoute              —                          basic.return: no queue bound for the key
//	ErrNacked               —                          basic.nack
//	ErrBlocked              —                          connection.blocked (resource alarm)
//	Wrapper                 —                          a Watermill message.Publisher over other
//	                                                   Watermill publishers, one per broker
//
// The Publisher publishes with confirms and mandatory on the first healthy
// path, moving a publish to the next path on a nack, a return, a dead
// connection or a confirm timeout. The Publisher type's documentation tells
// the life of one publish and why it uses amqp091-go channels directly
// rather than watermill-amqp's publisher. The Wrapper publishes each message
// on the first of its Watermill publishers that takes it; a failing one is
// skipped for a backoff, a hung one after AttemptTimeout. The connections
// themselves (Endpoint, Path, backoff, probe) are pkg/broker's, the
// exchange and queues pkg/topology's.
//
// # Publisher or Wrapper
//
// The Publisher runs the engine of servicebus's Sender: it pipelines confirms
// (many publishes in flight on a channel), turns a basic.return into
// ErrNoRoute at once, notices a blocked or silent broker, and health-checks
// brokers in the background. Use it, or the Sender on top of it, unless you
// already publish through other Watermill publishers.
//
// The Wrapper is for a Watermill user who already builds watermill-amqp
// publishers (or any others) and wants failover over them, with the
// messages servicebus.Envelopes builds. It knows a publisher only by what its
// Publish returns, so it has what those publishers have: watermill-amqp
// waits for each confirm in turn (one message in flight per pooled channel)
// and drops returns, so a message to a node that no queue serves is
// confirmed and lost rather than ErrNoRoute.
package failover
