package codec

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedBodies are the vectors' bodies plus a few awkward ones.
func seedBodies(f *testing.F) [][]byte {
	v := loadVectors(f)
	var out [][]byte
	for _, c := range v.CallMessages {
		out = append(out, []byte(c.XML))
	}
	for _, r := range v.ResponseMessages {
		out = append(out, []byte(r.XML))
	}
	for _, r := range v.PythonParserRejects {
		out = append(out, []byte(r.XML))
	}
	out = append(out,
		[]byte("\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8'?><!--c--><event version='1'><x a='&amp;'><y/></x><id>&#49;</id><token/><category>c</category><service>s</service><params>\r\n<![CDATA[[1]]><![CDATA[]]]>&#13;</params></event><?pi?>"),
		[]byte("<!DOCTYPE x [<!ENTITY a \"b\">]><event version=\"1\"/>"),
		[]byte("<response><id>1</id><message><![CDATA[a]]]]><![CDATA[>b]]>&#13;&lt;</message></response>"),
	)
	return out
}

// checkDecodeError asserts what every rejection must be.
func checkDecodeError(t *testing.T, body []byte, err error) {
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrInvalidUTF8) && !errors.Is(err, ErrForbiddenMarkup) {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	if de.Offset < 0 || de.Offset > max(len(body), DefaultMaxBodySize) {
		t.Fatalf("error offset %d outside the body of %d bytes", de.Offset, len(body))
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, b := range seedBodies(f) {
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, body []byte, strict bool) {
		ev, err := DecodeEvent(body, Options{Strict: strict})
		if err != nil {
			checkDecodeError(t, body, err)
			return
		}
		if !utf8.ValidString(ev.ID+ev.Token+ev.Category+ev.Service+ev.Version) || !json.Valid(ev.Params) {
			t.Fatalf("accepted %q as %+v", body, ev)
		}
		// What we accept, we write back in a form we read the same way.
		again, err := DecodeEvent(EncodeEvent(&ev), Options{Strict: true, MaxBodySize: 4 * DefaultMaxBodySize})
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", ev, err)
		}
		if want := sanitizeEvent(ev); !eventsEqual(want, again) {
			t.Fatalf("re-encoded %+v read back as %+v, want %+v", ev, again, want)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, b := range seedBodies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeResponse(body, Options{})
		if err != nil {
			checkDecodeError(t, body, err)
			return
		}
		again, err := DecodeResponse(EncodeResponse(&r), Options{MaxBodySize: 4 * DefaultMaxBodySize})
		if err != nil || again != r {
			t.Fatalf("re-encoding %+v: %+v, %v", r, again, err)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("1", "1", "tok", "math", "add", []byte("[1, 2]"), "7", "3")
	f.Add("", "a<b>&\"'", "", "]]>", "\r\n", []byte(" {\"a\":\"]]>\"}\r\n"), "", "]]>\r")
	f.Add("2\t\n", "\xff\x00", "\uFFFE", "ü", "✓", []byte(nil), "\x01", "]]]]>>")
	f.Fuzz(func(t *testing.T, version, id, token, category, service string, params []byte, rid, msg string) {
		ev := Event{Version: version, ID: id, Token: token, Category: category, Service: service, Params: params}
		enc := EncodeEvent(&ev)
		got, err := DecodeEvent(enc, Options{Strict: true, MaxBodySize: len(enc)})
		want := sanitizeEvent(ev)
		if !json.Valid(want.Params) {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("params %q are not JSON, decode gave %v", params, err)
			}
		} else if err != nil {
			t.Fatalf("decoding %q: %v", enc, err)
		} else if !eventsEqual(got, want) {
			t.Fatalf("round trip of %+v gave %+v, want %+v", ev, got, want)
		}

		r := Response{ID: rid, Message: msg}
		renc := EncodeResponse(&r)
		rgot, err := DecodeResponse(renc, Options{Strict: true})
		wantR := Response{ID: string(appendSanitized(nil, rid)), Message: string(appendSanitized(nil, msg))}
		if err != nil || rgot != wantR {
			t.Fatalf("response round trip of %+v gave %+v, %v; want %+v", r, rgot, err, wantR)
		}
	})
}

// sanitizeEvent is ev as an encode and decode must return it.
func sanitizeEvent(ev Event) Event {
	if ev.Version == "" {
		ev.Version = "1"
	}
	ev.Version = string(appendSanitized(nil, ev.Version))
	ev.ID = string(appendSanitized(nil, ev.ID))
	ev.Token = string(appendSanitized(nil, ev.Token))
	ev.Category = string(appendSanitized(nil, ev.Category))
	ev.Service = string(appendSanitized(nil, ev.Service))
	ev.Params = trimSpace(appendSanitized(nil, []byte(ev.Params)))
	if len(ev.Params) == 0 {
		ev.Params = json.RawMessage("null")
	}
	return ev
}

func eventsEqual(a, b Event) bool {
	return a.Version == b.Version && a.ID == b.ID && a.Token == b.Token && a.Category == b.Category &&
		a.Service == b.Service && bytes.Equal(a.Params, b.Params)
}

// FuzzDecodeAgreesWithEncodingXML checks what we accept against the standard
// library's XML parser: a body we accept must be well-formed to it too, and
// carry the same fields.
func FuzzDecodeAgreesWithEncodingXML(f *testing.F) {
	for _, b := range seedBodies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodeEvent(body, Options{Strict: true})
		if err != nil {
			return
		}
		var x struct {
			Version string `xml:"version,attr"`
			ID      string `xml:"id"`
			Token   string `xml:"token"`
			Cat     string `xml:"catgory"`
			Service string `xml:"service"`
			Params  string `xml:"params"`
		}
		dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF"))))
		dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("we accept %q, encoding/xml says %v", body, err)
		}
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("we accept %q, encoding/xml says after the root: %v", body, err)
			}
		}
		if x.ID != ev.ID || x.Token != ev.Token || x.Cat != ev.Category || x.Service != ev.Service ||
			!bytes.Equal(trimSpace([]byte(x.Params)), ev.Params) {
			t.Fatalf("%q: we read %+v, encoding/xml %+v", body, ev, x)
		}
		// encoding/xml does not normalize white space in attribute values.
		if !strings.ContainsAny(x.Version, "\t\n\r") && x.Version != ev.Version {
			t.Fatalf("%q: version %q, encoding/xml %q", body, ev.Version, x.Version)
		}
	})
}
