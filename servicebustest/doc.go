// Package servicebustest runs servicebus services in tests, as nameko's
// entrypoint_hook and MassTransit's test harness do for theirs. It has two
// parts:
//
//   - Services runs services through the agent's own built-in middleware
//     (router.Builtin: answer, decode, token, deadline; recover and retry
//     for messages) in the test's process, with no broker. A call is the
//     Watermill message a Sender publishes (servicebus.Envelopes: the
//     py-servicebus envelope, the config's token, the deadline), and its
//     answer is what an agent replies, read as a Sender reads it: a
//     *servicebus.Reply or a *servicebus.RemoteError.
//   - StartNode runs a whole agent and a sender of a node with a random
//     name against a broker, and when the test ends closes both and
//     deletes the node's queues.
//
// Services does not run what only an agent on a broker does: the
// subscriber, acks, replies over AMQP, concurrency, the drain, middleware
// added to agent.Router(). StartNode does.
package servicebustest
