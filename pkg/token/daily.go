package token

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// DailyToken returns py-servicebus's token for the calendar day of day in loc
// (nil: time.Local): hex(sha1(secret + " - " + YYYY-MM-DD)).
func DailyToken(secret string, day time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	return dailyToken([]byte(secret), day.In(loc))
}

func dailyToken(secret []byte, day time.Time) string {
	var tok [2 * sha1.Size]byte
	writeDailyToken(&tok, secret, day)
	return string(tok[:])
}

// writeDailyToken writes the hex token of day's date into tok.
func writeDailyToken(tok *[2 * sha1.Size]byte, secret []byte, day time.Time) {
	var in [128]byte
	b := append(in[:0], secret...)
	b = append(b, " - "...)
	b = day.AppendFormat(b, time.DateOnly)
	sum := sha1.Sum(b)
	hex.Encode(tok[:], sum[:])
}

// DailyTokens is py-servicebus's token scheme: the token of the current day
// in a time zone. It is weak — anyone who saw one message can send any
// message for up to three days — and exists for Python peers; prefer
// HMACTokens between Go peers.
type DailyTokens struct {
	secret *secretKey
	loc    *time.Location
}

// NewDailyTokens returns the signer and validator of the daily token. loc is
// the time zone whose calendar day counts (nil: time.Local, as py-servicebus).
func NewDailyTokens(secret string, loc *time.Location) *DailyTokens {
	if loc == nil {
		loc = time.Local
	}
	return &DailyTokens{secret: newSecretKey(secret), loc: loc}
}

// Sign sets ev.Token to the token of now's day. It adds no headers.
func (t *DailyTokens) Sign(ev *codec.Event, now time.Time) (map[string]string, error) {
	ev.Token = dailyToken(t.secret.b, now.In(t.loc))
	return nil, nil
}

// Validate accepts the token of now's day, of the day before and of the day
// after (clocks and time zones of peers differ), compared in constant time.
func (t *DailyTokens) Validate(_ context.Context, ev *codec.Event, _ map[string]string, now time.Time) error {
	now = now.In(t.loc)
	y, m, d := now.Date()
	ok := 0
	var tok [2 * sha1.Size]byte
	for _, delta := range [3]int{0, -1, 1} {
		// Noon of the neighbouring day: day arithmetic that DST cannot skew.
		writeDailyToken(&tok, t.secret.b, time.Date(y, m, d+delta, 12, 0, 0, 0, t.loc))
		ok |= subtle.ConstantTimeCompare([]byte(ev.Token), tok[:])
	}
	if ok != 1 {
		return fmt.Errorf("%w: the daily token is not the one of today, yesterday or tomorrow (%s)", ErrBadToken, t.loc)
	}
	return nil
}

// String describes the scheme without its secret.
func (t *DailyTokens) String() string {
	return "token.DailyTokens{secret: [REDACTED], loc: " + t.loc.String() + "}"
}

// GoString is String: %#v must not print the secret either.
func (t DailyTokens) GoString() string { return t.String() }
