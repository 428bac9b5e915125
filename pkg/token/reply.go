package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Reply is what a reply signature binds: the call it answers and what the
// sender will read of it.
type Reply struct {
	// CallID is the event id of the call answered; CorrelationID the AMQP
	// correlation id the reply carries (our senders use the same string).
	CallID, CorrelationID string
	// Body is the reply's body as published.
	Body []byte
	// ErrorCode and ErrorMessage are the x-sb-error-code and
	// x-sb-error-message headers ("" when absent).
	ErrorCode, ErrorMessage string
}

// ReplySigner is a scheme whose agents sign every reply (HMACTokens): the
// agent sets HeaderSignature to SignReply's answer.
type ReplySigner interface {
	SignReply(r *Reply) string
}

// ReplyVerifier is a scheme whose senders accept only replies that carry a
// good signature in HeaderSignature; an error wraps ErrBadReply.
type ReplyVerifier interface {
	VerifyReply(r *Reply, sig string) error
}

var (
	_ ReplySigner   = (*HMACTokens)(nil)
	_ ReplyVerifier = (*HMACTokens)(nil)
)

// hmacReplyDomain keeps reply signatures apart from event signatures: no
// reply signature is ever a valid call signature, or the other way round.
const hmacReplyDomain = "servicebus/hmac-sha256/reply/v1"

// signReply is HMAC-SHA256 over the domain and each field of r, each
// written with its length first (8 bytes, big endian), bytes as they are.
func (t *HMACTokens) signReply(r *Reply) [sha256.Size]byte {
	st := t.pool.Get().(*hmacState)
	st.h.Reset()
	for _, f := range []string{hmacReplyDomain, r.CallID, r.CorrelationID} {
		st.writeLen(len(f))
		st.h.Write([]byte(f))
	}
	st.writeLen(len(r.Body))
	st.h.Write(r.Body)
	for _, f := range []string{r.ErrorCode, r.ErrorMessage} {
		st.writeLen(len(f))
		st.h.Write([]byte(f))
	}
	var sum [sha256.Size]byte
	st.h.Sum(sum[:0])
	t.pool.Put(st)
	return sum
}

// SignReply is the hex HMAC-SHA256 of r, for the reply's x-sb-sig header.
func (t *HMACTokens) SignReply(r *Reply) string {
	sum := t.signReply(r)
	return hex.EncodeToString(sum[:])
}

// VerifyReply checks sig (the reply's x-sb-sig header) against r. With
// Compat a reply without any signature is accepted, since py-servicebus
// agents cannot sign: such a sender cannot tell forged replies from true
// ones, as in daily mode. A signature that is there must be right.
func (t *HMACTokens) VerifyReply(r *Reply, sig string) error {
	if sig == "" {
		if t.opt.Compat {
			return nil
		}
		return fmt.Errorf("%w: no %s header", ErrBadReply, HeaderSignature)
	}
	var got [sha256.Size]byte
	if len(sig) != hex.EncodedLen(len(got)) {
		return fmt.Errorf("%w: the %s header is not a hex HMAC-SHA256", ErrBadReply, HeaderSignature)
	}
	if _, err := hex.Decode(got[:], []byte(sig)); err != nil {
		return fmt.Errorf("%w: the %s header is not a hex HMAC-SHA256", ErrBadReply, HeaderSignature)
	}
	want := t.signReply(r)
	if !hmac.Equal(got[:], want[:]) {
		return fmt.Errorf("%w: the signature does not match the reply", ErrBadReply)
	}
	return nil
}
