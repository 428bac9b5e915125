package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func ExampleDailyToken() {
	day := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	fmt.Println(token.DailyToken("secret token", day, time.UTC))
	// Output: 095faf41ba5bc9066667b8618551eafd2ce23aaa
}

func ExampleNewHMACTokens() {
	signer := token.NewHMACTokens("secret token", token.HMACOptions{})
	validator := token.NewHMACTokens("secret token", token.HMACOptions{})
	now := time.Now()

	ev := codec.Event{ID: "42", Category: "math", Service: "add", Params: json.RawMessage("[1,2]")}
	headers, _ := signer.Sign(&ev, now) // published as AMQP headers x-sb-ts, x-sb-sig

	fmt.Println(validator.Validate(context.Background(), &ev, headers, now))
	err := validator.Validate(context.Background(), &ev, headers, now) // the same message again
	fmt.Println(errors.Is(err, token.ErrBadToken))
	fmt.Println(signer) // the secret never prints
	// Output:
	// <nil>
	// true
	// token.HMACTokens{secret: [REDACTED], skew: 2m0s, replay window: 4m0s, replay cache: 100000, compat: false}
}

func ExampleValidator() {
	// Any type with Validate plugs in, e.g. one that asks an auth service.
	var v token.Validator = allowCategory("math")
	fmt.Println(v.Validate(context.Background(), &codec.Event{Category: "admin"}, nil, time.Now()))
	// Output: authz: token: bad token: category "admin" is not allowed
}

type allowCategory string

func (a allowCategory) Validate(_ context.Context, ev *codec.Event, _ map[string]string, _ time.Time) error {
	if ev.Category != string(a) {
		return fmt.Errorf("authz: %w: category %q is not allowed", token.ErrBadToken, ev.Category)
	}
	return nil
}
