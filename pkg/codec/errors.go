package codec

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error of DecodeEvent and DecodeResponse wraps exactly
// one of them.
var (
	// ErrMalformed: the body is not a well-formed envelope (not XML, wrong
	// root, a missing or duplicated field, params that are not JSON, ...).
	ErrMalformed = errors.New("codec: malformed envelope")
	// ErrTooLarge: the body is longer than Options.MaxBodySize.
	ErrTooLarge = errors.New("codec: envelope too large")
	// ErrInvalidUTF8: the body is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("codec: envelope is not valid UTF-8")
	// ErrForbiddenMarkup: the body carries a DOCTYPE or an entity
	// declaration; we never expand entities, so we never accept their
	// declarations (billion laughs, external entities).
	ErrForbiddenMarkup = errors.New("codec: forbidden XML markup")
)

// DecodeError says why and where a body was rejected. It wraps one of the
// sentinel errors, so callers test it with errors.Is.
type DecodeError struct {
	Offset int    // byte offset in the body where the problem was seen
	Reason string // what is wrong, for humans; never echoes field values
	Err    error  // ErrMalformed, ErrTooLarge, ErrInvalidUTF8 or ErrForbiddenMarkup
}

func (e *DecodeError) Error() string {
	return e.Err.Error() + " at byte " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns the sentinel error.
func (e *DecodeError) Unwrap() error { return e.Err }
