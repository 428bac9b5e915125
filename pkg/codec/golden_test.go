package codec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"
)

// vectors is testdata/py-servicebus-2.x-vectors.json: messages and tokens
// that py-servicebus 2.x itself produced and parsed.
type vectors struct {
	Tokens []struct {
		Secret    string `json:"secret"`
		LocalDate string `json:"local_date"`
		Token     string `json:"token"`
		Prev      string `json:"prev"`
		Next      string `json:"next"`
	} `json:"tokens"`
	CallMessages []struct {
		Category string          `json:"category"`
		Service  string          `json:"service"`
		Params   json.RawMessage `json:"params"`
		XML      string          `json:"xml"`
		Parsed   struct {
			ID       string          `json:"id"`
			Category string          `json:"category"`
			Service  string          `json:"service"`
			Token    string          `json:"token"`
			Params   json.RawMessage `json:"params"`
			Version  string          `json:"version"`
		} `json:"parsed_by_python"`
	} `json:"call_messages"`
	ResponseMessages []struct {
		Repr    string   `json:"python_value_repr"`
		XML     string   `json:"xml"`
		Returns []string `json:"python_sender_returns"`
	} `json:"response_messages"`
	Rejects []struct {
		XML    string `json:"xml"`
		Parsed bool   `json:"parsed"`
	} `json:"python_parser_rejects"`
}

func loadVectors(t testing.TB) *vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/py-servicebus-2.x-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) == 0 || len(v.CallMessages) == 0 || len(v.ResponseMessages) == 0 || len(v.Rejects) == 0 {
		t.Fatal("vectors file lacks a section")
	}
	return &v
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestGoldenCallDecodesAsPythonParsedIt(t *testing.T) {
	v := loadVectors(t)
	for _, strict := range []bool{true, false} {
		for i, c := range v.CallMessages {
			ev, err := DecodeEvent([]byte(c.XML), Options{Strict: strict})
			if err != nil {
				t.Fatalf("vector %d (strict %v): %v", i, strict, err)
			}
			p := c.Parsed
			if ev.ID != p.ID || ev.Token != p.Token || ev.Category != p.Category || ev.Service != p.Service || ev.Version != p.Version {
				t.Errorf("vector %d (strict %v): got %+v, python parsed %+v", i, strict, ev, p)
			}
			if !jsonEqual(t, ev.Params, p.Params) {
				t.Errorf("vector %d: params %s, python parsed %s", i, ev.Params, p.Params)
			}
		}
	}
}

func TestGoldenCallEncodesByteForByte(t *testing.T) {
	v := loadVectors(t)
	const open, close = "<params><![CDATA[", "]]></params>"
	for i, c := range v.CallMessages {
		// Params marshalled by Go: equal to Python's output except inside
		// the CDATA, where the JSON must be equal as JSON.
		params, err := json.Marshal(c.Params)
		if err != nil {
			t.Fatal(err)
		}
		ev := Event{ID: c.Parsed.ID, Token: c.Parsed.Token, Category: c.Category, Service: c.Service, Params: params}
		got := EncodeEvent(&ev)
		gi, gj := bytes.Index(got, []byte(open)), bytes.LastIndex(got, []byte(close))
		wi, wj := bytes.Index([]byte(c.XML), []byte(open)), bytes.LastIndex([]byte(c.XML), []byte(close))
		if gi < 0 || gj < 0 || wi < 0 || wj < 0 {
			t.Fatalf("vector %d: no params section in\n%s", i, got)
		}
		if string(got[:gi]) != c.XML[:wi] || string(got[gj:]) != c.XML[wj:] {
			t.Errorf("vector %d: encoded\n%s\nwant\n%s", i, got, c.XML)
		}
		if !jsonEqual(t, got[gi+len(open):gj], []byte(c.XML[wi+len(open):wj])) {
			t.Errorf("vector %d: params %s, want %s", i, got[gi+len(open):gj], c.XML[wi+len(open):wj])
		}
		// With Python's own JSON text the whole envelope is byte-exact.
		ev.Params = json.RawMessage(c.XML[wi+len(open) : wj])
		if got := EncodeEvent(&ev); string(got) != c.XML {
			t.Errorf("vector %d: encoded\n%q\nwant\n%q", i, got, c.XML)
		}
		if got := AppendEvent([]byte("prefix"), &ev); string(got) != "prefix"+c.XML {
			t.Errorf("vector %d: AppendEvent lost the prefix or differs", i)
		}
	}
}

func TestGoldenStrictRejectsWhatPythonRejects(t *testing.T) {
	v := loadVectors(t)
	for i, r := range v.Rejects {
		if r.Parsed {
			continue
		}
		_, err := DecodeEvent([]byte(r.XML), Options{Strict: true})
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("reject %d %q: strict decode gave %v, want ErrMalformed", i, r.XML, err)
		}
	}
}

func TestGoldenLenientAcceptsCategorySpelledRight(t *testing.T) {
	v := loadVectors(t)
	accepted := 0
	for _, r := range v.Rejects {
		ev, err := DecodeEvent([]byte(r.XML), Options{})
		if err != nil {
			continue
		}
		accepted++
		if ev.Category != "c" || ev.Service != "s" || ev.Token != "t" || string(ev.Params) != "[]" {
			t.Errorf("lenient decode of %q gave %+v", r.XML, ev)
		}
	}
	if accepted != 1 {
		t.Errorf("lenient mode accepted %d of the rejects, want exactly the <category> one", accepted)
	}
}

func TestGoldenResponsesDecodeAsPythonSenderReturns(t *testing.T) {
	v := loadVectors(t)
	for i, r := range v.ResponseMessages {
		got, err := DecodeResponse([]byte(r.XML), Options{Strict: true})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if want := r.Returns; len(want) != 2 || got.ID != want[0] || got.Message != want[1] {
			t.Errorf("response %d (%s): got %+v, python sender returns %q", i, r.Repr, got, r.Returns)
		}
		if enc := EncodeResponse(&got); string(enc) != r.XML {
			t.Errorf("response %d: encoded\n%q\nwant\n%q", i, enc, r.XML)
		}
	}
}

func TestGoldenDailyTokens(t *testing.T) {
	v := loadVectors(t)
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
					if err := tokens.Validate(ctx, &Event{Token: tok}, nil, at); err != nil {
						t.Errorf("token %d %s on %v: %v", i, tok, at, err)
					}
				}
				for _, far := range []int{-2, 2} {
					tok := DailyToken(tv.Secret, at.AddDate(0, 0, far), loc)
					if err := tokens.Validate(ctx, &Event{Token: tok}, nil, at); !errors.Is(err, ErrBadToken) {
						t.Errorf("token %d of %d days away accepted on %v (err %v)", i, far, at, err)
					}
				}
				ev := Event{}
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
		if err := NewDailyTokens(tv.Secret, nil).Validate(ctx, &Event{Token: tv.Token}, nil, at); err != nil {
			t.Errorf("token %d with nil location: %v", i, err)
		}
	}
}

func TestDailyTokenUsesTheConfiguredTimeZone(t *testing.T) {
	v := loadVectors(t)
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
	v := loadVectors(t)
	tv := v.Tokens[0] // 2026-11-27
	saved := time.Local
	defer func() { time.Local = saved }()
	// Where local time is UTC+14, 2026-11-26 20:00 UTC is already the 27th.
	time.Local = time.FixedZone("UTC+14", 14*3600)
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	if got := DailyToken(tv.Secret, at, nil); got != tv.Token {
		t.Errorf("nil location: %s, want local day's %s", got, tv.Token)
	}
	ev := Event{}
	if _, err := NewDailyTokens(tv.Secret, nil).Sign(&ev, at); err != nil || ev.Token != tv.Token {
		t.Errorf("nil location Sign: %s, want local day's %s", ev.Token, tv.Token)
	}
	if _, err := NewDailyTokens(tv.Secret, time.UTC).Sign(&ev, at); err != nil || ev.Token != tv.Prev {
		t.Errorf("UTC Sign: %s, want UTC day's %s", ev.Token, tv.Prev)
	}
}
