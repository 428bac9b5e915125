package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// The headers that carry the HMAC scheme's credentials: Unix milliseconds
// and hex HMAC-SHA256. A py-servicebus peer ignores them.
const (
	HeaderTimestamp = "x-sb-ts"
	HeaderSignature = "x-sb-sig"
)

// HMACOptions tune HMACTokens. Zero values take the defaults.
type HMACOptions struct {
	// Skew is how far the signer's clock may be from ours, either way
	// (default 2m).
	Skew time.Duration
	// ReplayWindow is how long an accepted event id is remembered (default
	// and minimum: 2×Skew, long enough that a replay is either remembered or
	// outside the skew window).
	ReplayWindow time.Duration
	// ReplayCacheSize bounds the remembered ids (default 100000). When it is
	// full the oldest id is forgotten and events signed no later than that
	// id's timestamp are refused: the window shrinks, replays stay refused.
	ReplayCacheSize int
	// Compat also sets the daily token on signed events, so py-servicebus
	// agents (which cannot check the signature) accept them.
	Compat bool
	// Location is the time zone of the Compat daily token (nil: time.Local).
	Location *time.Location
}

// HMACTokens signs an event with HMAC-SHA256 over its id, category, service,
// params and a timestamp, carried in the headers x-sb-ts (Unix milliseconds)
// and x-sb-sig (hex). The validator refuses a timestamp outside the skew
// window and an id it has seen within the replay window. It is safe for
// concurrent use.
type HMACTokens struct {
	key    *secretKey
	opt    HMACOptions
	pool   sync.Pool // of *hmacState keyed with key
	replay replayCache
}

// NewHMACTokens returns the HMAC signer and validator for secret.
func NewHMACTokens(secret string, opt HMACOptions) *HMACTokens {
	if opt.Skew <= 0 {
		opt.Skew = 2 * time.Minute
	}
	if opt.ReplayWindow < 2*opt.Skew {
		opt.ReplayWindow = 2 * opt.Skew
	}
	if opt.ReplayCacheSize <= 0 {
		opt.ReplayCacheSize = 100000
	}
	if opt.Location == nil {
		opt.Location = time.Local
	}
	t := &HMACTokens{key: newSecretKey(secret), opt: opt}
	t.pool.New = func() any { return &hmacState{h: hmac.New(sha256.New, t.key.b), buf: make([]byte, 0, 256)} }
	t.replay.init(opt.ReplayCacheSize)
	return t
}

// hmacDomain separates our signatures from any other use of the secret.
const hmacDomain = "servicebus/hmac-sha256/v1"

// sign returns the signature of ev at timestamp ts (Unix ms). Every field is
// written with its length first, so no two events share an input. Fields are
// taken as the decoder will return them after an encode (params trimmed, empty
// params as null, unencodable characters as U+FFFD).
func (t *HMACTokens) sign(ev *codec.Event, ts int64) [sha256.Size]byte {
	st := t.pool.Get().(*hmacState)
	st.h.Reset()
	st.field(hmacDomain)
	st.field(ev.ID)
	st.field(ev.Category)
	st.field(ev.Service)
	params := codec.DecodedParams(ev.Params)
	st.writeLen(len(params))
	st.h.Write(params) // directly: params may be large
	num := strconv.AppendInt(st.num[:0], ts, 10)
	st.writeLen(len(num))
	st.h.Write(num)
	var sum [sha256.Size]byte
	st.h.Sum(sum[:0])
	t.pool.Put(st)
	return sum
}

// hmacState is the keyed hash and buffers of one signing.
type hmacState struct {
	h    hash.Hash
	buf  []byte
	num  [20]byte
	lenb [8]byte
}

func (st *hmacState) writeLen(n int) {
	binary.BigEndian.PutUint64(st.lenb[:], uint64(n))
	st.h.Write(st.lenb[:])
}

// field writes the length of s and s, as the decoder will return it:
// unencodable characters as U+FFFD ("\r" survives as a character reference).
func (st *hmacState) field(s string) {
	b := codec.AppendDecoded(st.buf[:0], s)
	st.writeLen(len(b))
	st.h.Write(b)
	if cap(b) <= 4<<10 {
		st.buf = b[:0]
	}
}

// Sign sets the timestamp and signature headers (and, with Compat, the daily
// token; otherwise the token is cleared).
func (t *HMACTokens) Sign(ev *codec.Event, now time.Time) (map[string]string, error) {
	ts := now.UnixMilli()
	sum := t.sign(ev, ts)
	if t.opt.Compat {
		ev.Token = dailyToken(t.key.b, now.In(t.opt.Location))
	} else {
		ev.Token = ""
	}
	return map[string]string{
		HeaderTimestamp: strconv.FormatInt(ts, 10),
		HeaderSignature: hex.EncodeToString(sum[:]),
	}, nil
}

// Validate checks the signature, then the timestamp against the skew window,
// then that the id was not seen before.
func (t *HMACTokens) Validate(_ context.Context, ev *codec.Event, headers map[string]string, now time.Time) error {
	tsText, sigText := headers[HeaderTimestamp], headers[HeaderSignature]
	if tsText == "" || sigText == "" {
		return fmt.Errorf("%w: the %s or %s header is missing", ErrBadToken, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: the %s header is not Unix milliseconds", ErrBadToken, HeaderTimestamp)
	}
	var sig [sha256.Size]byte
	if len(sigText) != hex.EncodedLen(len(sig)) {
		return fmt.Errorf("%w: the %s header is not a hex HMAC-SHA256", ErrBadToken, HeaderSignature)
	}
	if _, err := hex.Decode(sig[:], []byte(sigText)); err != nil {
		return fmt.Errorf("%w: the %s header is not a hex HMAC-SHA256", ErrBadToken, HeaderSignature)
	}
	want := t.sign(ev, ts)
	if !hmac.Equal(sig[:], want[:]) {
		return fmt.Errorf("%w: the signature does not match the event", ErrBadToken)
	}
	nowMs := now.UnixMilli()
	if d := nowMs - ts; d > t.opt.Skew.Milliseconds() || -d > t.opt.Skew.Milliseconds() {
		return fmt.Errorf("%w: the timestamp is %v away from our clock, more than the allowed skew %v",
			ErrBadToken, time.Duration(d)*time.Millisecond, t.opt.Skew)
	}
	if ev.ID == "" {
		return fmt.Errorf("%w: an event without id cannot be checked for replay", ErrBadToken)
	}
	// Remembered for the replay window: since it is at least twice the
	// skew (NewHMACTokens) and ts is at most a skew ahead of now (above),
	// that lasts at least until ts+skew, as long as the event could pass.
	expires := nowMs + t.opt.ReplayWindow.Milliseconds()
	if reason := t.replay.admit(ev.ID, ts, nowMs, expires); reason != "" {
		return fmt.Errorf("%w: %s", ErrBadToken, reason)
	}
	return nil
}

// String describes the scheme without its secret.
func (t *HMACTokens) String() string {
	return fmt.Sprintf("token.HMACTokens{secret: [REDACTED], skew: %v, replay window: %v, replay cache: %d, compat: %v}",
		t.opt.Skew, t.opt.ReplayWindow, t.opt.ReplayCacheSize, t.opt.Compat)
}

// GoString is String: %#v must not print the secret either.
func (t *HMACTokens) GoString() string { return t.String() }
