package udplog

import (
	"io"
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
