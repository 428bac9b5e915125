package udplog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func TestDecodeJSONKeepsEveryField(t *testing.T) {
	b := []byte(`{"level":"warning","msg":"disk\nfull","time":"2026-11-27T09:15:01.5Z","pid":77,"host":"h1","n":{"a": [1, 2]}}`)
	rec, err := DecodeDatagram(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Level != "WARNING" || rec.Msg != "disk\nfull" || rec.PID != 77 {
		t.Fatalf("got %+v", rec)
	}
	if !rec.Time.Equal(time.Date(2026, 11, 27, 9, 15, 1, 5e8, time.UTC)) {
		t.Fatalf("time %v", rec.Time)
	}
	got := string(AppendLine(nil, &rec, FormatText, time.UTC))
	want := "[2026-11-27 09:15:01,500 PID:77]WARNING:disk\\nfull host=\"h1\" n={\"a\":[1,2]}\n"
	if got != want {
		t.Fatalf("text line\n got %q\nwant %q", got, want)
	}
	got = string(AppendLine(nil, &rec, FormatJSON, time.UTC))
	want = `{"level":"warning","msg":"disk\nfull","time":"2026-11-27T09:15:01.5Z","pid":77,"host":"h1","n":{"a":[1,2]}}` + "\n"
	if got != want {
		t.Fatalf("json line\n got %q\nwant %q", got, want)
	}
}

func TestDecodeJSONSlogWarnIsWarning(t *testing.T) {
	rec, err := DecodeDatagram([]byte(`{"level":"WARN","msg":"x"}`), testNow)
	if err != nil || rec.Level != "WARNING" {
		t.Fatalf("%q %v", rec.Level, err)
	}
}

func TestDecodeJSONTimeFallsBackToReceiveTime(t *testing.T) {
	for _, b := range []string{`{"level":"info","msg":"x"}`, `{"level":"info","msg":"x","time":"yesterday"}`} {
		rec, err := DecodeDatagram([]byte(b), testNow)
		if err != nil || !rec.Time.Equal(testNow) {
			t.Fatalf("%s: %v %v", b, rec.Time, err)
		}
	}
	rec, err := DecodeDatagram([]byte(`{"level":"info","msg":"x","time":1764201600.5}`), testNow)
	if err != nil || rec.Time.UnixMilli() != 1764201600500 {
		t.Fatalf("unix time: %v %v", rec.Time, err)
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":        {nil, ErrNotJSON},
		"text":         {[]byte("hello"), ErrNotJSON},
		"array":        {[]byte(`[1,2]`), ErrNotJSON},
		"null":         {[]byte(`null`), ErrNotJSON},
		"truncated":    {[]byte(`{"level":"info","msg":"x`), ErrNotJSON},
		"trailing":     {[]byte(`{"level":"info","msg":"x"} {}`), ErrNotJSON},
		"no msg":       {[]byte(`{"level":"info"}`), ErrMissingField},
		"no level":     {[]byte(`{"msg":"x"}`), ErrMissingField},
		"invalid utf8": {[]byte("{\"level\":\"info\",\"msg\":\"\xff\"}"), ErrInvalidUTF8},
		"oversize":     {[]byte(`{"level":"info","msg":"` + strings.Repeat("a", MaxRecordSize) + `"}`), ErrTooLarge},
		"bad length":   {[]byte{0, 0, 0, 9, '}', '.'}, ErrBadPickle},
		"nul bytes":    {make([]byte, 100), ErrBadPickle},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeDatagram(c.b, testNow)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestDecodeAcceptsRecordOfMaxSize(t *testing.T) {
	head := `{"level":"info","msg":"`
	b := []byte(head + strings.Repeat("a", MaxRecordSize-len(head)-2) + `"}`)
	if len(b) != MaxRecordSize {
		t.Fatal(len(b))
	}
	if _, err := DecodeDatagram(b, testNow); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodePythonDatagramHandlerRecord(t *testing.T) {
	rec, err := DecodeDatagram(readTestdata(t, "logging_handler.bin"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	got := string(AppendLine(nil, &rec, FormatText, time.UTC))
	want := "[2025-11-27 00:00:00,250 PID:4242]WARNING:hello from python attempt=3 request_id=\"abc-123\"\n"
	if got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	j := string(AppendLine(nil, &rec, FormatJSON, time.UTC))
	for _, part := range []string{`"time":"2025-11-27T00:00:00.25Z"`, `"level":"WARNING"`, `"msg":"hello from python"`, `"pid":4242`, `"name":"app.worker"`, `"lineno":42`, `"request_id":"abc-123"`} {
		if !strings.Contains(j, part) {
			t.Errorf("json line lacks %s: %s", part, j)
		}
	}
}

func TestDecodePythonExceptionStaysOneLine(t *testing.T) {
	rec, err := DecodeDatagram(readTestdata(t, "logging_exc.bin"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	line := string(AppendLine(nil, &rec, FormatText, time.UTC))
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, `ERROR:failed\nsecond line`) || !strings.Contains(line, `ValueError: boom`) {
		t.Fatalf("%q", line)
	}
}

func TestDecodePythonPickleProtocols1To4(t *testing.T) {
	for _, name := range []string{"record_p1.bin", "record_p2.bin", "record_p3.bin", "record_p4.bin"} {
		t.Run(name, func(t *testing.T) {
			rec, err := DecodeDatagram(readTestdata(t, name), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Level != "WARNING" || rec.Msg != "hello from python" || rec.PID != 4242 {
				t.Fatalf("%+v", rec)
			}
			got := string(fieldOf(&rec, "nested"))
			want := `{"big":1180591620717411303424,"list":[1,2.5,null,true],"neg":-1099511627776,"tuple":[1,"x"]}`
			if name >= "record_p3" {
				want = `{"big":1180591620717411303424,"bytes":"AP8=","list":[1,2.5,null,true],"neg":-1099511627776,"tuple":[1,"x"]}`
			}
			if got != want {
				t.Fatalf("nested\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDecodePythonRejectsHostilePickles(t *testing.T) {
	for _, name := range []string{"hostile_reduce_p1.bin", "hostile_reduce_p4.bin", "hostile_object.bin"} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeDatagram(readTestdata(t, name), testNow)
			if !errors.Is(err, ErrBadPickle) {
				t.Fatalf("got %v", err)
			}
			if !strings.Contains(err.Error(), "forbidden opcode") {
				t.Fatalf("error does not name the opcode: %v", err)
			}
		})
	}
}

func pyFrame(p string) []byte {
	n := len(p)
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, p...)
}

func TestPickleRejectsCyclesAndBlowUps(t *testing.T) {
	cases := map[string]string{
		// d = {}; d["levelname"] = "I"; d["msg"] = "m"; l = []; l.append(l); d["x"] = l
		"cycle": "}q\x00(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00IX\x03\x00\x00\x00msgX\x01\x00\x00\x00mX\x01\x00\x00\x00x]q\x012ah\x01u.",
		// a list holding itself twice, 30 times over: 2^30 values once expanded
		"shared": "}(X\x09\x00\x00\x00levelnameX\x01\x00\x00\x00IX\x03\x00\x00\x00msgX\x01\x00\x00\x00mX\x01\x00\x00\x00x]" +
			strings.Repeat("q\x00(h\x00h\x00l", 30) + "u.",
		"mark left":   "(}.",
		"underflow":   "a.",
		"no stop":     "}",
		"after stop":  "}.}",
		"not a dict":  "].",
		"bad get":     "h\x05.",
		"unknown op":  "}\xff.",
		"huge length": "}X\xff\xff\xff\xff.",
		"list key":    "}]Ns.",
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeDatagram(pyFrame(p), testNow); !errors.Is(err, ErrBadPickle) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func fieldOf(rec *Record, key string) []byte {
	for _, f := range rec.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

func TestDecodeJSONEscapedKeysAndNesting(t *testing.T) {
	b := []byte(`{ "le\u0076el" : "info" , "msg":"a\"b}" ,"z":[{"x":"]}"}, 2],"a":{"b":{}} ,"pid":"7"}`)
	rec, err := DecodeDatagram(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Level != "INFO" || rec.Msg != `a"b}` || rec.PID != 0 {
		t.Fatalf("%+v", rec)
	}
	got := string(AppendLine(nil, &rec, FormatText, time.UTC))
	want := `[2026-11-27 10:00:00,000 PID:0]INFO:a"b} a={"b":{}} pid="7" z=[{"x":"]}"},2]` + "\n"
	if got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}
