package codec

import (
	"encoding/json"
	"testing"
)

var benchEvent = Event{
	Version:  "1",
	ID:       "5f0c3f8e-6a0d-4c52-9d0b-3c2f8f9b1a77",
	Token:    "095faf41ba5bc9066667b8618551eafd2ce23aaa",
	Category: "math",
	Service:  "add",
	Params:   json.RawMessage("[1,2]"),
}

// BenchmarkRoundTrip is one call's codec work on both sides: encode the
// event (reusing a buffer, as a sender does) and decode it (as an agent does).
func BenchmarkRoundTrip(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], &benchEvent)
		if _, err := DecodeEvent(buf, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRoundTripFresh is the round trip with a new buffer per encode.
func BenchmarkRoundTripFresh(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(EncodeEvent(&benchEvent), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], &benchEvent)
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	body := EncodeEvent(&benchEvent)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeEvent(body, Options{Strict: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponseRoundTrip(b *testing.B) {
	r := Response{ID: benchEvent.ID, Message: "3"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], &r)
		if _, err := DecodeResponse(buf, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeEventLarge decodes an event with 64 KiB of params.
func BenchmarkDecodeEventLarge(b *testing.B) {
	params := make([]byte, 0, 64<<10)
	params = append(params, '[')
	for len(params) < 64<<10 {
		params = append(params, `"ünïcødé ✓ <&>",`...)
	}
	params = append(params, "1]"...)
	body := EncodeEvent(&Event{ID: "1", Category: "c", Service: "s", Params: params})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeEvent(body, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
