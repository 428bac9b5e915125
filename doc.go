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
//
// What a service or a caller needs besides is here under the same names as
// in the packages below, so a program imports this package alone: the
// services (RPC, Message, Request), the errors of a call (ErrTimeout,
// ErrNoRoute, ErrUnavailable, ErrMaybeDelivered, ErrClosed, RemoteError,
// IsRetryable), the error codes and NewError/Errorf/Permanent for a service
// to answer with, and the call options (WithResend). errors.go, agent.go and
// sender.go hold them; docs/design.md tells how the packages fit together.
//
// The packages below, each with one job; each imports only those listed
// after it:
//
//	pkg/router    the agent: services as Watermill handlers, middleware, one path per broker
//	pkg/rpc       the sender: Call, Send, Ping, correlation, typed errors
//	pkg/failover  the failover publisher and the Wrapper over Watermill publishers
//	pkg/broker    one broker: endpoint, connection kept alive with backoff and probe
//	pkg/topology  the exchange and node queues a deployment declares
//	pkg/token     the token schemes: py-servicebus's daily token, HMAC, none
//	pkg/codec     envelopes, XML codec, wire vocabulary, AMQP<->Watermill marshaler
//	pkg/udplog    the UDP log collector and its logrus and slog clients (stands alone)
package servicebus
