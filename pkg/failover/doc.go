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
package failover
