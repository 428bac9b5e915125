// Package testkit holds what the tests of every package share: waiting on a
// condition or a channel with a deadline, names no other test uses, queue
// and exchange cleanup, a raw AMQP peer (a channel, a reply queue) for tests
// that play a broker client by hand, and the messages and tokens
// py-servicebus itself produced.
//
// It imports nothing of servicebus, so that any package's tests, internal
// or external, can use it.
package testkit
