package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// loadVectors is testkit's vectors (messages and tokens py-servicebus 2.x
// itself produced and parsed), with every section there.
func loadVectors(t testing.TB) testkit.Vectors {
	t.Helper()
	v := testkit.LoadVectors(t)
	if len(v.Tokens) == 0 || len(v.CallMessages) == 0 || len(v.ResponseMessages) == 0 || len(v.PythonParserRejects) == 0 {
		t.Fatal("vectors file lacks a section")
	}
	return v
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
			p := c.ParsedByPython
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
		ev := Event{ID: c.ParsedByPython.ID, Token: c.ParsedByPython.Token, Category: c.Category, Service: c.Service, Params: params}
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
	for i, r := range v.PythonParserRejects {
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
	for _, r := range v.PythonParserRejects {
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
		if want := r.PythonSenderReturns; len(want) != 2 || got.ID != want[0] || got.Message != want[1] {
			t.Errorf("response %d (%s): got %+v, python sender returns %q", i, r.PythonValueRepr, got, r.PythonSenderReturns)
		}
		if enc := EncodeResponse(&got); string(enc) != r.XML {
			t.Errorf("response %d: encoded\n%q\nwant\n%q", i, enc, r.XML)
		}
	}
}
