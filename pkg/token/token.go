package token

import (
	"context"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Signer puts credentials on an outgoing event.
type Signer interface {
	// Sign sets ev.Token and returns AMQP headers to add to the message (nil for none).
	Sign(ev *codec.Event, now time.Time) (map[string]string, error)
}

// Validator checks the credentials of an incoming event. Implement it to
// plug in your own scheme, such as a call to an auth service.
type Validator interface {
	// Validate checks ev's credentials (ev.Token and the delivered headers); an error wraps ErrBadToken.
	Validate(ctx context.Context, ev *codec.Event, headers map[string]string, now time.Time) error
}

// NoTokens signs nothing and accepts everything. Use it only where the
// configuration says in so many words that tokens are off.
var NoTokens noTokens

type noTokens struct{}

func (noTokens) Sign(*codec.Event, time.Time) (map[string]string, error) { return nil, nil }
func (noTokens) Validate(context.Context, *codec.Event, map[string]string, time.Time) error {
	return nil
}
func (noTokens) String() string { return "token.NoTokens" }

var (
	_ Signer    = (*DailyTokens)(nil)
	_ Validator = (*DailyTokens)(nil)
	_ Signer    = NoTokens
	_ Validator = NoTokens
)
