package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
)

func TestGoldenDailyTokens(t *testing.T) {
	v := testkit.LoadVectors(t)
	ctx := context.Background()
	for i, tv := range v.Tokens {
		day, err := time.Parse(time.DateOnly, tv.LocalDate)
		if err != nil {
			t.Fatal(err)
		}
		y, m, d := day.Date()
		for _, loc := range []*time.Location{time.Local, time.UTC, time.FixedZone("UTC+14", 14*3600), time.FixedZone("UTC-12", -12*3600)} {
			// Every hour of the day in loc gives that day's token.
			for h := 0; h < 24; h += 23 {
				at := time.Date(y, m, d, h, 59, 59, 0, loc)
				if got := DailyToken(tv.Secret, at, loc); got != tv.Token {
					t.Errorf("token %d at %v: %s, want %s", i, at, got, tv.Token)
				}
				if got := DailyToken(tv.Secret, at.AddDate(0, 0, -1), loc); got != tv.Prev {
					t.Errorf("token %d prev at %v: %s, want %s", i, at, got, tv.Prev)
				}
				if got := DailyToken(tv.Secret, at.AddDate(0, 0, 1), loc); got != tv.Next {
					t.Errorf("token %d next at %v: %s, want %s", i, at, got, tv.Next)
				}
				tokens := NewDailyTokens(tv.Secret, loc)
				for _, tok := range []string{tv.Token, tv.Prev, tv.Next} {
					if err := tokens.Validate(ctx, &codec.Event{Token: tok}, nil, at); err != nil {
						t.Errorf("token %d %s on %v: %v", i, tok, at, err)
					}
				}
				for _, far := range []int{-2, 2} {
					tok := DailyToken(tv.Secret, at.AddDate(0, 0, far), loc)
					if err := tokens.Validate(ctx, &codec.Event{Token: tok}, nil, at); !errors.Is(err, ErrBadToken) {
						t.Errorf("token %d of %d days away accepted on %v (err %v)", i, far, at, err)
					}
				}
				ev := codec.Event{}
				if _, err := tokens.Sign(&ev, at); err != nil || ev.Token != tv.Token {
					t.Errorf("token %d: Sign at %v set %q (%v), want %s", i, at, ev.Token, err, tv.Token)
				}
			}
		}
		// nil location is time.Local.
		at := time.Date(y, m, d, 12, 0, 0, 0, time.Local)
		if got := DailyToken(tv.Secret, at, nil); got != tv.Token {
			t.Errorf("token %d with nil location: %s, want %s", i, got, tv.Token)
		}
		if err := NewDailyTokens(tv.Secret, nil).Validate(ctx, &codec.Event{Token: tv.Token}, nil, at); err != nil {
			t.Errorf("token %d with nil location: %v", i, err)
		}
	}
}

func TestDailyTokenUsesTheConfiguredTimeZone(t *testing.T) {
	v := testkit.LoadVectors(t)
	tv := v.Tokens[0] // 2026-11-27
	// 2026-11-26 20:00 UTC is already 2026-11-27 in UTC+14.
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	if got := DailyToken(tv.Secret, at, time.FixedZone("UTC+14", 14*3600)); got != tv.Token {
		t.Errorf("UTC+14: %s, want %s", got, tv.Token)
	}
	if got := DailyToken(tv.Secret, at, time.UTC); got != tv.Prev {
		t.Errorf("UTC: %s, want the previous day's %s", got, tv.Prev)
	}
}

func TestDailyTokensDefaultToLocalTime(t *testing.T) {
	v := testkit.LoadVectors(t)
	tv := v.Tokens[0] // 2026-11-27
	saved := time.Local
	defer func() { time.Local = saved }()
	// Where local time is UTC+14, 2026-11-26 20:00 UTC is already the 27th.
	time.Local = time.FixedZone("UTC+14", 14*3600)
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	if got := DailyToken(tv.Secret, at, nil); got != tv.Token {
		t.Errorf("nil location: %s, want local day's %s", got, tv.Token)
	}
	ev := codec.Event{}
	if _, err := NewDailyTokens(tv.Secret, nil).Sign(&ev, at); err != nil || ev.Token != tv.Token {
		t.Errorf("nil location Sign: %s, want local day's %s", ev.Token, tv.Token)
	}
	if _, err := NewDailyTokens(tv.Secret, time.UTC).Sign(&ev, at); err != nil || ev.Token != tv.Prev {
		t.Errorf("UTC Sign: %s, want UTC day's %s", ev.Token, tv.Prev)
	}
}
