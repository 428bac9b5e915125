package udplog

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// The hook's datagram holds what logrus.JSONFormatter writes, plus pid and host.
func TestHookWritesWhatJSONFormatterWrites(t *testing.T) {
	h := &Hook{pid: 99, host: "box"}
	log := logrus.New()
	when := time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.UTC)
	entry := &logrus.Entry{Logger: log, Time: when, Level: logrus.WarnLevel, Message: "a \"quoted\"\nline \x01 \xff end",
		Data: logrus.Fields{
			"err": errors.New("boom"), "n": 3, "f": 1.5, "ok": true, "nil": nil, "s": []int{1, 2},
			"m": map[string]any{"k": "v"}, "t": when, "level": "shadow", "ch": make(chan int),
		}}
	got := h.appendEntry(nil, entry)
	if !json.Valid(got) {
		t.Fatalf("not JSON: %s", got)
	}
	var mine map[string]any
	json.Unmarshal(got, &mine)

	data := logrus.Fields{}
	for k, v := range entry.Data {
		if k != "ch" {
			data[k] = v
		}
	}
	ref := *entry
	ref.Data = data
	want, err := (&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano}).Format(&ref)
	if err != nil {
		t.Fatal(err)
	}
	var theirs map[string]any
	json.Unmarshal(want, &theirs)
	if mine["pid"] != 99.0 || mine["host"] != "box" || mine["ch"] == nil {
		t.Fatalf("pid/host/ch: %v", mine)
	}
	delete(mine, "pid")
	delete(mine, "host")
	delete(mine, "ch")
	theirs["msg"] = "a \"quoted\"\nline \x01 \ufffd end" // encoding/json writes the same replacement
	if !reflect.DeepEqual(mine, theirs) {
		t.Fatalf("\nhook      %v\nformatter %v", mine, theirs)
	}
	rec, err := DecodeDatagram(got, time.Time{})
	if err != nil || rec.PID != 99 || rec.Level != "WARNING" || !rec.Time.Equal(when) {
		t.Fatalf("%+v %v", rec, err)
	}
}

func BenchmarkHookFire(b *testing.B) {
	c, err := Dial("127.0.0.1:9") // discard port: sends fail fast or vanish
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	h := &Hook{client: c, levels: logrus.AllLevels, pid: 1, host: "h"}
	log := logrus.New()
	entry := log.WithFields(logrus.Fields{"child": 1, "seq": 2, "path": "/api/v1/things", "status": 200})
	entry.Message, entry.Time, entry.Level = "request served", time.Now(), logrus.InfoLevel
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.appendEntry(nil, entry)
	}
}
