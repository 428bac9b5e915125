// Package brokertest gives tests real brokers to break.
//
// # What it offers
//
//   - RequireBroker: the shared broker of integration tests
//     (SERVICEBUS_TEST_URL), skipped when absent unless CI is set (not "false" or "0").
//   - StartNode: a throwaway RabbitMQ node of its own on free loopback ports,
//     with its own data and log directories, that a test can stop, kill with
//     SIGKILL and start again on the same ports with its data.
//   - StartCluster: throwaway nodes booted at once and joined into one
//     RabbitMQ cluster (rabbitmqctl join_cluster); any node can be killed,
//     stopped or restarted, and QuorumLeader and QuorumStatus tell which
//     node leads a quorum queue, as its Raft members report it.
//   - NewProxy: a TCP proxy in front of a broker that passes traffic, resets
//     every connection, or goes silent (blackhole) and later heals.
//
// Every node and proxy registers a t.Cleanup that ends its processes and
// removes its directories, also when the test fails. Nodes left behind by a
// test binary that died without cleaning up (a -timeout panic) are swept by
// the next StartNode.
//
// # Nodes
//
// A node is rabbitmq-server (RabbitMQ's scripts under /usr/lib/rabbitmq/bin,
// or SERVICEBUS_RABBITMQ_BIN) run as user rabbitmq, so that it shares the
// Erlang cookie of the system node and rabbitmqctl reaches it. It loads no
// plugins and listens only on 127.0.0.1. The system node at 5672 is never
// touched. SERVICEBUS_KEEP_NODES=1 keeps the directory of a node whose test
// failed, for its logs.
//
// # Clusters
//
// A cluster's nodes share user rabbitmq's Erlang cookie and reach each other
// by name (NAME@localhost) over Erlang distribution on loopback. The first
// node is the one the others joined; a node started again after Kill or Stop
// rejoins by itself. rabbitmqctl and rabbitmq-queues (Node.Ctl, Node.Queues)
// take about half a second a call, so what asks the cluster (QuorumStatus,
// RunningMembers) is that slow too. The tests of clusters are behind the
// build tag cluster: make test-cluster.
package brokertest
