package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func TestTokensPerMode(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for _, mode := range []TokenMode{TokenDaily, TokenHMAC, TokenOff} {
		t.Run(string(mode), func(t *testing.T) {
			c := validConfig()
			c.TokenMode, c.TokenTimezone = mode, "UTC"
			signer, err := c.TokenSigner()
			if err != nil {
				t.Fatal(err)
			}
			validator, err := c.TokenValidator()
			if err != nil {
				t.Fatal(err)
			}
			ev := codec.Event{ID: "1", Category: "math", Service: "add", Params: []byte("[1,2]")}
			headers, err := signer.Sign(&ev, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := validator.Validate(ctx, &ev, headers, now); err != nil {
				t.Fatalf("own token refused: %v", err)
			}
			switch mode {
			case TokenDaily:
				if want := token.DailyToken("secret token", now, time.UTC); ev.Token != want {
					t.Errorf("token %q, want %q", ev.Token, want)
				}
			case TokenHMAC:
				if len(headers) == 0 {
					t.Error("hmac signed no headers")
				}
			case TokenOff:
				if ev.Token != "" || headers != nil {
					t.Errorf("off mode signed: %q %v", ev.Token, headers)
				}
			}
			// A token of another secret is refused unless tokens are off.
			other := validConfig()
			other.TokenMode, other.TokenTimezone, other.SecretToken = mode, "UTC", "other secret"
			otherSigner, _ := other.TokenSigner()
			ev2 := codec.Event{ID: "2", Category: "math", Service: "add", Params: []byte("[1,2]")}
			h2, _ := otherSigner.Sign(&ev2, now)
			err = validator.Validate(ctx, &ev2, h2, now)
			if (mode == TokenOff) != (err == nil) {
				t.Errorf("foreign token: err = %v", err)
			}
			if err != nil && !errors.Is(err, token.ErrBadToken) {
				t.Errorf("error does not wrap ErrBadToken: %v", err)
			}
			if s := fmt.Sprintf("%v %+v %#v", signer, validator, validator); strings.Contains(s, "secret token") {
				t.Errorf("token scheme prints the secret: %s", s)
			}
		})
	}
}

func TestCodecOptions(t *testing.T) {
	c := validConfig()
	c.MaxBodySize = 4096
	if got := c.CodecOptions(); got.MaxBodySize != 4096 || got.Strict {
		t.Errorf("CodecOptions() = %+v", got)
	}
}

// An agent or sender refuses to start without a secret unless token_mode
// says off in so many words: Validate, the token schemes of a Config never
// validated, NewAgent and NewSender all refuse, and a secret of blanks is as
// good as none, from the environment too (docs/security.md).
func TestNoSecretRefusesToStartUnlessTokensAreOff(t *testing.T) {
	const fix = "secret_token: is empty or only blanks: set it, or set token_mode: off to run without tokens"
	for _, mode := range []TokenMode{TokenDaily, TokenHMAC, "", "none"} {
		for _, secret := range []Secret{"", " ", "\t", "\n"} {
			c := DefaultConfig()
			c.TokenMode, c.SecretToken = mode, secret
			err := c.Validate()
			if err == nil || (!strings.Contains(err.Error(), fix) && !strings.Contains(err.Error(), "token_mode: ")) {
				t.Errorf("token_mode %q, secret %q: Validate() = %v, want the fix explained", mode, string(secret), err)
			}
			if _, err := c.TokenSigner(); err == nil {
				t.Errorf("token_mode %q, secret %q: TokenSigner built", mode, string(secret))
			}
			if _, err := c.TokenValidator(); err == nil {
				t.Errorf("token_mode %q, secret %q: TokenValidator built", mode, string(secret))
			}
			if _, err := NewAgent(c, nil); err == nil {
				t.Errorf("token_mode %q, secret %q: NewAgent accepted it", mode, string(secret))
			}
			if _, err := NewSender(c, nil); err == nil {
				t.Errorf("token_mode %q, secret %q: NewSender accepted it", mode, string(secret))
			}
		}
	}
	for _, mode := range []TokenMode{TokenDaily, TokenHMAC, TokenOff} {
		c := DefaultConfig()
		c.TokenMode, c.SecretToken = mode, "s"
		if err := c.Validate(); err != nil {
			t.Errorf("token_mode %s with a secret: %v", mode, err)
		}
	}
	off := DefaultConfig()
	off.TokenMode = TokenOff
	if err := off.Validate(); err != nil {
		t.Fatalf("token_mode off without secret: %v", err)
	}
	a, err := NewAgent(off, nil)
	if err != nil {
		t.Fatalf("token_mode off: NewAgent: %v", err)
	}
	_ = a.Close()
	s, err := NewSender(off, nil)
	if err != nil {
		t.Fatalf("token_mode off: NewSender: %v", err)
	}
	_ = s.Close()

	_, err = LoadConfig("", withEnviron([]string{"SERVICEBUS_SECRET_TOKEN=  \t "}))
	wantAll(t, err, "SERVICEBUS_SECRET_TOKEN: "+fix)
}
