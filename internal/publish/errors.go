package publish

import (
	"errors"
	"fmt"

	"github.com/go-servicebus/servicebus/pkg/broker"
)

// The outcome errors of a publish. pkg/failover exports them under the same
// names (and pkg/rpc wraps them), so they say "failover:", the package a
// user meets them in; they are defined here, the lowest package that
// returns them, so that errors.Is works across every layer. failover's
// documentation of each is the one for users.
var (
	// ErrNoRoute: nothing was delivered: every broker tried returned the publish.
	ErrNoRoute = errors.New("failover: no route (no queue bound for the routing key)")
	// ErrUnavailable: no broker confirmed the publish before its deadline.
	ErrUnavailable = errors.New("failover: no broker available")
	// ErrClosed: the publisher was closed; it wraps broker.ErrClosed.
	ErrClosed = fmt.Errorf("failover: publisher closed: %w", broker.ErrClosed)
	// ErrNacked: a broker refused the publish (basic.nack).
	ErrNacked = errors.New("failover: publish nacked by broker")
	// ErrMaybeDelivered: an attempt went out and its outcome is unknown.
	ErrMaybeDelivered = errors.New("failover: the message may have been delivered")
	// ErrConfirmTimeout: no confirm came within ConfirmTimeout.
	ErrConfirmTimeout = errors.New("failover: publish confirm timed out")
	// ErrPathLost: the connection died before the confirm.
	ErrPathLost = errors.New("failover: connection lost before confirm")
	// ErrBlocked: the broker blocked publishers while a publish waited.
	ErrBlocked = errors.New("failover: broker blocks publishers (resource alarm)")
	// ErrRefused: every broker refused in a way retrying cannot heal; it
	// is broker.ErrRefused, and the error wraps each broker's
	// *broker.RefusedError.
	ErrRefused = broker.ErrRefused
)
