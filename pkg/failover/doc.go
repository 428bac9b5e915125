// Package failover keeps connections to several RabbitMQ brokers and publishes
// on the first healthy one.
//
// # Nomenclature
//
//   - Endpoint: one broker (URL, TLS, heartbeat, dial timeout).
//   - Path: one Endpoint's connection, re-established with backoff and jitter
//     whenever it drops, goes silent (heartbeats, health probe) or is killed.
//   - Topology: the exchange and node queues a deployment declares, either
//     py-servicebus compatible or durable.
//   - Publisher: publishes with confirms and mandatory on the first healthy
//     path, moving a publish to the next path on a nack, a return, a dead
//     connection or a confirm timeout. The Publisher type's documentation
//     tells the life of one publish and why it uses amqp091-go channels
//     directly rather than watermill-amqp's publisher.
//   - Wrapper: a Watermill message.Publisher over other Watermill publishers
//     (one watermill-amqp publisher per broker, say): each message goes to
//     the first that takes it, a failing one is skipped for a backoff, a hung
//     one after AttemptTimeout.
//
// # Publisher or Wrapper
//
// The Publisher is the engine of servicebus's Sender: it pipelines confirms
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
