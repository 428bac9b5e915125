// Package testkit holds what the tests of every package share: waiting on a
// condition with a deadline, names no other test uses, queue cleanup, and
// the messages and tokens py-servicebus itself produced.
//
// It imports nothing of servicebus, so that any package's tests, internal
// or external, can use it.
package testkit
