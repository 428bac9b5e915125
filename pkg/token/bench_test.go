package token

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

var benchEvent = codec.Event{
	Version:  "1",
	ID:       "5f0c3f8e-6a0d-4c52-9d0b-3c2f8f9b1a77",
	Token:    "095faf41ba5bc9066667b8618551eafd2ce23aaa",
	Category: "math",
	Service:  "add",
	Params:   json.RawMessage("[1,2]"),
}

func BenchmarkDailyTokenValidate(b *testing.B) {
	tokens := NewDailyTokens("secret token", time.UTC)
	now := time.Now()
	ev := benchEvent
	if _, err := tokens.Sign(&ev, now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tokens.Validate(context.Background(), &ev, nil, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHMACSignValidate(b *testing.B) {
	tokens := NewHMACTokens("secret token", HMACOptions{ReplayCacheSize: 1 << 12})
	ev := benchEvent
	ids := make([]string, 1<<12)
	for i := range ids {
		ids[i] = "id-" + time.Duration(i).String()
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Distinct ids (the cache refuses repeats); move the clock past
		// the replay window each lap so the ids may come again.
		if i%len(ids) == 0 {
			now = now.Add(time.Hour)
		}
		ev.ID = ids[i%len(ids)]
		i++
		h, err := tokens.Sign(&ev, now)
		if err != nil {
			b.Fatal(err)
		}
		if err := tokens.Validate(context.Background(), &ev, h, now); err != nil {
			b.Fatal(err)
		}
	}
}
