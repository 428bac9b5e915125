// Package publish is the publishing engine of servicebus: one broker.Path
// per broker, publishes pipelined with publisher confirms and mandatory on
// the first ready path, moving to the next on a nack, a return, a dead
// connection or a confirm timeout.
//
// pkg/failover's Publisher is its public front, and its documentation tells
// the life of one publish. pkg/rpc's Sender uses the engine directly for
// what users do not need: the per-path hooks OnUp and OnDown (reply
// consumers bound to each connection), Prepare (reply_to set for the path a
// call goes out on), PublishPrepared and PublishOnPath (a ping over one
// broker).
//
// # Files
//
//	publisher.go   Config, Publisher, the failover loop and the choice of the outcome error
//	pathpub.go     the publishing side of one path: its confirm-mode channel, one attempt
//	confirms.go    the publishes in flight on a channel, settled from confirms and returns
//	errors.go      the outcome errors, exported again by pkg/failover
//	unreachable.go why no broker takes a publish: every one refused for good (at
//	               once), or each broker's cause at the deadline
package publish
