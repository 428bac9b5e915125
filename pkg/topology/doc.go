// Package topology is the set of broker objects a servicebus deployment
// declares: the call exchange and one queue per node, in one of two kinds.
//
// # Nomenclature
//
//	topology / servicebus   py-servicebus              AMQP
//	Topology.Exchange       exchange_name              direct exchange calls are published to
//	node queue              the node's queue           queue named NODE, bound with routing key NODE
//	Compat                  (the only kind)            non-durable exchange, durable classic queue
//	Durable                 —                          durable exchange, quorum queue with
//	                                                   x-delivery-limit, dead-letter exchange
//	                                                   EXCHANGE.dlx and queue NODE.dead
//
// # Kinds
//
// Compat declares exactly what py-servicebus 2.x declares, with its
// arguments, so a Go process and a Python one can declare the same objects
// in either order. Durable is for a RabbitMQ cluster: quorum queues survive
// the loss of a node, and a message handed out DeliveryLimit times (one
// that kills every consumer that takes it) is dead-lettered instead of
// looping. The two kinds must not share an exchange name: RabbitMQ refuses
// a declare whose arguments differ from the existing object's.
package topology
