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

func TestTokensRefuseEmptySecretWithoutValidate(t *testing.T) {
	for _, mode := range []TokenMode{TokenDaily, TokenHMAC, "bogus"} {
		c := DefaultConfig()
		c.TokenMode = mode
		if _, err := c.TokenSigner(); err == nil {
			t.Errorf("%s: signer without secret", mode)
		}
		if _, err := c.TokenValidator(); err == nil {
			t.Errorf("%s: validator without secret", mode)
		}
	}
}

func TestCodecOptions(t *testing.T) {
	c := validConfig()
	c.MaxBodySize = 4096
	if got := c.CodecOptions(); got.MaxBodySize != 4096 || got.Strict {
		t.Errorf("CodecOptions() = %+v", got)
	}
}
