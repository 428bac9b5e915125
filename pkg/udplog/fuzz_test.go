package udplog

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

func addSeeds(f *testing.F) {
	f.Add([]byte(`{"level":"info","msg":"hello","time":"2026-11-27T00:00:00Z","pid":1,"host":"h"}`))
	f.Add([]byte(`{"level":"warning","msg":"a\nb","n":{"x":[1,2,{"y":null}]},"t":true}`))
	f.Add([]byte(`{ "le\u0076el" : 3 , "msg":"\u0000" ,"time":1764201600.5}`))
	f.Add([]byte(`{"level":"info","msg":"x","msg":"y"}`))
	f.Add([]byte("{\"level\":\"info\",\"msg\":\"\xff\"}"))
	f.Add([]byte(`[1]`))
	f.Add([]byte{0, 0, 0, 2, '}', '.'})
	f.Add(pyFrame("}q\x00(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00IX\x03\x00\x00\x00msgX\x01\x00\x00\x00mu."))
	bins, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, name := range bins {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

// checkDecodeError fails unless err is one of the errors DecodeDatagram
// documents for a datagram of b's kind: a pickle is never "not JSON", and
// JSON is never a bad pickle.
func checkDecodeError(t *testing.T, b []byte, err error) {
	t.Helper()
	var kinds []error
	switch {
	case len(b) > MaxRecordSize:
		kinds = []error{ErrTooLarge}
	case isPython(b):
		kinds = []error{ErrBadPickle, ErrMissingField}
	default:
		kinds = []error{ErrInvalidUTF8, ErrNotJSON, ErrMissingField}
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error %q (%T) is none of %v", err, err, kinds)
}

// checkLine fails unless line is exactly one line within MaxLineSize, and
// valid JSON in the JSON format.
func checkLine(t *testing.T, line []byte, format Format) {
	t.Helper()
	if bytes.IndexByte(line, '\n') != len(line)-1 || len(line) > MaxLineSize {
		t.Fatalf("%s line of %d bytes is not one line within %d: %.200q", format, len(line), MaxLineSize, line)
	}
	if format == FormatJSON && !json.Valid(line[:len(line)-1]) {
		t.Fatalf("json line is not JSON: %q", line)
	}
}

// FuzzDatagram: any datagram is decoded or rejected with one of the errors
// of its kind, never a panic, and an accepted one becomes exactly one line
// within MaxLineSize (valid JSON in the JSON format).
func FuzzDatagram(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeDatagram(b, testNow)
		if err != nil {
			checkDecodeError(t, b, err)
			return
		}
		for _, format := range []Format{FormatText, FormatJSON} {
			checkLine(t, AppendLine(nil, &rec, format, time.UTC), format)
		}
	})
}

// FuzzPickle feeds bare pickles (the length prefix added) to the reader:
// each is refused as a bad pickle or a record without its fields, or
// becomes one line.
func FuzzPickle(f *testing.F) {
	bins, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	for _, name := range bins {
		if b, err := os.ReadFile(name); err == nil && len(b) > 4 {
			f.Add(b[4:])
		}
	}
	f.Add([]byte("}(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00I]q\x002ah\x00u."))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) > MaxRecordSize-4 {
			return
		}
		b := pyFrame(string(p))
		rec, err := DecodeDatagram(b, testNow)
		if err != nil {
			checkDecodeError(t, b, err) // ErrBadPickle or ErrMissingField unless p is empty
			return
		}
		for _, format := range []Format{FormatText, FormatJSON} {
			checkLine(t, AppendLine(nil, &rec, format, time.UTC), format)
		}
	})
}

// nesting is the deepest bracket nesting of valid JSON b.
func nesting(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipString(b, i) - 1
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// FuzzScanObject checks the one-pass scanner against encoding/json: it
// accepts exactly the JSON objects json.Valid accepts (deeper than
// maxJSONDepth aside), and each member it reports is valid on its own.
func FuzzScanObject(f *testing.F) {
	addSeeds(f)
	f.Add([]byte(` {"a":-0.5e+3,"b":[true,false,null,{"c":"\u00e9\n"}],"d":{}} `))
	f.Add([]byte(`{"a":01}`))
	f.Add([]byte(`{"a":1.}`))
	f.Add([]byte(`{"a":"\x"}`))
	f.Add([]byte(`{"a":[1,]}`))
	f.Add([]byte(`{"a" 1}`))
	f.Add([]byte(`{"a":tru}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		trimmed := bytes.TrimLeft(b, " \t\r\n")
		ref := json.Valid(b) && len(trimmed) > 0 && trimmed[0] == '{'
		var members [][2][]byte
		mine := scanObject(b, func(k, v []byte) { members = append(members, [2][]byte{k, v}) })
		if mine && !ref {
			t.Fatalf("accepted invalid %q", b)
		}
		if ref && !mine && nesting(b) <= maxJSONDepth {
			t.Fatalf("rejected valid %q", b)
		}
		if !mine {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, kv := range members {
			var k string
			if err := json.Unmarshal(kv[0], &k); err != nil || jsonKey(kv[0]) != k {
				t.Fatalf("key %q: %v", kv[0], err)
			}
			if !json.Valid(kv[1]) {
				t.Fatalf("value %q of %q", kv[1], b)
			}
		}
		if len(members) < len(m) {
			t.Fatalf("%d members reported, %d keys", len(members), len(m))
		}
	})
}
