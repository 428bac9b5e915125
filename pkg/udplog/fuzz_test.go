package udplog

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
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
