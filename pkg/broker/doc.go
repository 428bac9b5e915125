// Package broker is the connection layer of servicebus: one RabbitMQ broker
// and the AMQP connection to it, kept alive in the background.
//
// # Nomenclature
//
//	broker / servicebus     py-servicebus              AMQP
//	broker                  one entry of hosts         a RabbitMQ node (or a cluster's address)
//	Endpoint                host, port, user, vhost,   URL, TLS config, heartbeat, connect
//	                        use_ssl, socket_timeout    timeout
//	Path                    a host's connection        one amqp091-go connection, re-dialled with
//	                                                   Backoff whenever it drops
//	probe                   PingWatcher                a passive declare of amq.direct on a channel
//	                                                   of its own, every ProbeInterval
//	OnUp / OnDown           —                          set-up after each connect (declare, open
//	                                                   channels, consume) / what a lost connection undoes
//	blocked                 —                          connection.blocked (a memory or disk alarm)
//
// # A Path's life
//
// NewPath returns at once and runs a loop until Close: dial the Endpoint
// (TCP, TLS, AMQP handshake, all within DialTimeout), run OnUp within
// SetupTimeout, then watch the connection: its close, the heartbeats
// (three silent intervals end it), the probe, connection.blocked, and Kill
// from the Path's user (a confirm that never came, a consumer the broker
// cancelled). When the connection is gone, OnDown runs with the reason, and
// the loop dials again after Backoff.Delay, spread by jitter so that many
// clients cut off at once do not return at once. amqp091-go's own
// connection recovery is not used.
//
// # Deadlines and refusals
//
// A connect attempt never holds anyone: Endpoint.DialContext ends with its
// context (the socket is closed under a TCP connect, a TLS handshake or an
// AMQP handshake that stalls, since amqp091-go's handshake takes no
// context), and Path.Close cuts short a dial or a set-up under way, so
// DialTimeout (socket_timeout) bounds an attempt but not a caller.
//
// Some refusals no retry heals: the login (403), the vhost (530), a TLS
// certificate that fails verification, a topology that does not match the
// broker's (406 at set-up). They come back as a *RefusedError (ErrRefused),
// naming the broker and the cause, and a Path's State says when its last
// attempt was one; the publishing engine fails a publish at once when every
// broker refuses so. The Path itself keeps trying (an operator may fix the
// broker) and logs such a refusal at error level once per change of cause.
// RabbitMQ says why it refuses a login (connection.close 403) only to a
// client that lists the capability authentication_failure_close, and closes
// the socket silently 3 s later otherwise; amqp091-go has no way to list
// it, so the login frame is amended on its way out (authfailure.go).
//
// # Writes that cannot hold a caller
//
// A socket write blocks for as long as the broker does not read, and
// amqp091-go writes on the caller's goroutine: a silent link would hold a
// publish past any deadline. The connection's socket is wrapped (stallconn.go)
// so that a write that stalls hands its bytes to a background flush and
// returns; see docs/reliability.md for what that means for a publish.
//
// # Sizes
//
// CheckSize refuses, before it is written, a message whose properties and
// headers do not fit one frame of the connection (frame_max: sent anyway,
// the broker closes the whole connection) or whose body is over
// MaxMessageSize (the broker closes the channel).
//
// # Closed
//
// ErrClosed is the root of every "closed" error of servicebus: the ErrClosed
// of pkg/failover, pkg/rpc, pkg/router and the root package wraps it.
package broker
