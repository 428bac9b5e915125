package token

import "errors"

// ErrBadToken means the credentials of an event (daily token, HMAC
// signature, timestamp, replay check) do not prove that a holder of the
// secret sent it. Every rejection of a Validator wraps it.
var ErrBadToken = errors.New("token: bad token")
