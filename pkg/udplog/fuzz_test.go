package udplog

import (
	"bytes"
	"encoding/json"
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

// FuzzDatagram: any datagram is decoded or rejected with an error, never a
// panic, and an accepted one becomes exactly one line (valid JSON in the
// JSON format).
func FuzzDatagram(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := DecodeDatagram(b, testNow)
		if err != nil {
			return
		}
		for _, format := range []Format{FormatText, FormatJSON} {
			line := AppendLine(nil, &rec, format, time.UTC)
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("%s line is not one line: %q", format, line)
			}
			if format == FormatJSON && !json.Valid(line[:len(line)-1]) {
				t.Fatalf("json line is not JSON: %q", line)
			}
		}
	})
}

// FuzzPickle feeds bare pickles (the length prefix added) to the reader.
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
		rec, err := DecodeDatagram(pyFrame(string(p)), testNow)
		if err != nil {
			return
		}
		line := AppendLine(nil, &rec, FormatJSON, time.UTC)
		if !json.Valid(line[:len(line)-1]) {
			t.Fatalf("json line is not JSON: %q", line)
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
