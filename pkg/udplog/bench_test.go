package udplog

import (
	"io"
	"strings"
	"testing"
	"time"
)

var benchRecord = []byte(`{"child":1,"host":"box1","level":"info","msg":"request served","path":"/api/v1/things","pid":4242,"seq":123456,"status":200,"time":"2026-11-27T00:52:41.123456789Z"}`)

// BenchmarkDecodeAndFormat is the collector's CPU cost a record, socket aside.
func BenchmarkDecodeAndFormat(b *testing.B) {
	for _, f := range []Format{FormatText, FormatJSON} {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			var line []byte
			for i := 0; i < b.N; i++ {
				rec, err := DecodeDatagram(benchRecord, time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				line = AppendLine(line[:0], &rec, f, time.UTC)
			}
			io.Discard.Write(line)
		})
	}
}

func BenchmarkDecodePython(b *testing.B) {
	d := readTestdata(b, "logging_handler.bin")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := DecodeDatagram(d, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}

// worstCases are datagrams of the largest size built to cost the most to
// decode per byte, with a typical record of each kind to compare:
// BenchmarkDecodeWorstCase reports ns/B for each, which is what
// datagramCost and pickleCost assume.
func worstCases(tb testing.TB) map[string][]byte {
	const room = MaxRecordSize - 100
	// fill repeats unit to fill the datagram, within pickleMaxValues
	fill := func(unit string) string { return strings.Repeat(unit, min(room/len(unit), pickleMaxValues-100)) }
	list := func(items string) []byte { // a record whose field x is a list
		return pyFrame("}(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00IX\x03\x00\x00\x00msgX\x01\x00\x00\x00mX\x01\x00\x00\x00x(" + items + "lu.")
	}
	return map[string][]byte{
		"json typical":         benchRecord,
		"python typical":       readTestdata(tb, "logging_handler.bin"),
		"json control chars":   []byte(`{"level":"info","msg":"` + fill(`\u0001`) + `"}`),
		"json many fields":     []byte(`{"level":"info","msg":"m"` + fill(`,"a":1`) + `}`),
		"json long array":      []byte(`{"level":"info","msg":"m","a":[` + fill(`1,`) + `1]}`),
		"json too deep":        []byte(`{"level":"info","msg":"m","x":` + strings.Repeat("[", room/2) + strings.Repeat("]", room/2) + `}`),
		"pickle LONG4":         list("\x8b\x00\xe0\x00\x00" + strings.Repeat("\x5a", 0xe000)),
		"pickle short strings": list(fill("C\x01a")),
		"pickle empty dicts":   list(fill("}")),
		"pickle ints":          list(fill("J\x07\x07\x07\x07")),
		"pickle control chars": pyFrame("}(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00IX\x03\x00\x00\x00msgX\x00\xe0\x00\x00" + strings.Repeat("\x01", 0xe000) + "u."),
	}
}

func BenchmarkDecodeWorstCase(b *testing.B) {
	for name, d := range worstCases(b) {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			var line []byte
			for b.Loop() {
				if rec, err := DecodeDatagram(d, time.Time{}); err == nil {
					line = AppendLine(line[:0], &rec, FormatText, time.UTC)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(d)), "ns/B")
		})
	}
}
