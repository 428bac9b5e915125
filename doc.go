// Package servicebus is a toolkit for RPC and message processing over
// RabbitMQ, built on Watermill, and the Go successor of the Python package
// py-servicebus 2.x, whose wire format it speaks.
//
// # Nomenclature
//
//	servicebus        py-servicebus           AMQP
//	broker, host      host                    one RabbitMQ server
//	node              node_name               a queue named after the node, bound with its name
//	service           rpc / message service   addressed NODE.CATEGORY.NAME inside the XML envelope
//	Agent             Agent Server            consumer of the node queue on every broker
//	Sender            Sender                  publisher with confirms and a reply queue
//	path              connection              one connection per broker, reconnecting by itself
//
// # Front door
//
// Config holds the keys of py-servicebus's config and ours; LoadConfig reads
// YAML and the SERVICEBUS_* environment. NewAgent and NewSender build the two
// halves from it; NewEnvelopes builds the messages of calls and sends for any
// Watermill publisher (failover.Wrapper gives failover over several).
// Everything else lives in the packages below:
//
//	pkg/codec     envelopes, XML codec, wire vocabulary, AMQP<->Watermill marshaler
//	pkg/token     the token schemes: py-servicebus's daily token, HMAC, none
//	pkg/broker    one broker: endpoint, connection kept alive with backoff and probe
//	pkg/topology  the exchange and node queues a deployment declares
//	pkg/router    the agent: services as Watermill handlers, middleware, one path per broker
//	pkg/rpc       the sender: Call, Send, Ping, correlation, typed errors
//	pkg/failover  the failover publisher and the Wrapper over Watermill publishers
//	pkg/udplog    the UDP log collector and its logrus and slog clients
package servicebus
