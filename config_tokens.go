package servicebus

import (
	"errors"
	"fmt"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// tokenScheme is a signer and validator in one.
type tokenScheme interface {
	token.Signer
	token.Validator
}

// tokens builds the scheme of token_mode. It refuses an empty secret itself,
// so a Config built in code without Validate cannot run with an open door.
func (c Config) tokens() (tokenScheme, error) {
	switch c.TokenMode {
	case TokenOff:
		return token.NoTokens, nil
	case TokenDaily, TokenHMAC:
	default:
		return nil, fmt.Errorf("token_mode: %q is not one of daily, hmac, off", string(c.TokenMode))
	}
	if c.SecretToken.blank() {
		return nil, errors.New("secret_token: is empty or only blanks: set it, or set token_mode: off to run without tokens")
	}
	loc, err := c.TokenLocation()
	if err != nil {
		return nil, fmt.Errorf("token_timezone: %q: %w", c.TokenTimezone, err)
	}
	if c.TokenMode == TokenDaily {
		return token.NewDailyTokens(string(c.SecretToken), loc), nil
	}
	return token.NewHMACTokens(string(c.SecretToken), token.HMACOptions{Location: loc}), nil
}

// TokenSigner is the sender's token scheme of token_mode: the py-servicebus
// daily token, HMAC-SHA256 headers, or nothing for token_mode: off.
func (c Config) TokenSigner() (token.Signer, error) { return c.tokens() }

// TokenValidator is the agent's token scheme of token_mode. Each call returns
// a new validator; in hmac mode each has its own replay cache, so an agent
// should make one and share it across its brokers.
func (c Config) TokenValidator() (token.Validator, error) { return c.tokens() }

// CodecOptions are the decoding limits of the config (max_body_size), in
// lenient mode (the <category> spelling is accepted besides <catgory>).
func (c Config) CodecOptions() codec.Options {
	return codec.Options{MaxBodySize: c.MaxBodySize}
}
