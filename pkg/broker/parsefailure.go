package broker

import (
	"errors"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// IsParseFailure reports whether a connection was lost because amqp091-go
// could not parse what the broker sent (a delivery whose headers nest deeper
// than it reads, an unknown field type), rather than because the link or the
// broker failed. Whoever can publish to a queue a client consumes can cause
// it.
func IsParseFailure(reason error) bool {
	var e *amqp.Error
	if !errors.As(reason, &e) || e.Server || e.Code != amqp.FrameError {
		return false
	}
	for _, parse := range []*amqp.Error{amqp.ErrSyntax, amqp.ErrFieldType, amqp.ErrFrame} {
		if strings.Contains(e.Reason, parse.Error()) {
			return true
		}
	}
	return false
}
