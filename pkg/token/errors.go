package token

import "errors"

// ErrBadToken means the credentials of an event (daily token, HMAC
// signature, timestamp, replay check) do not prove that a holder of the
// secret sent it. Every rejection of a Validator wraps it.
var ErrBadToken = errors.New("token: bad token")

// ErrBadReply means a reply's signature (hmac mode) is missing or does not
// prove that a holder of the secret wrote it for this call.
var ErrBadReply = errors.New("token: bad reply signature")
