package udplog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// pyRecord frames a protocol-2 pickle of {levelname: "INFO", msg: <msg>,
// x: <x>}; msg and x are pickled values (opcodes).
func pyRecord(msg, x string) []byte {
	return pyFrame("\x80\x02}(X\x09\x00\x00\x00levelnameX\x04\x00\x00\x00INFOX\x03\x00\x00\x00msg" + msg + "X\x01\x00\x00\x00x" + x + "u.")
}

// pyStr is BINUNICODE s.
func pyStr(s string) string {
	return "X" + string(binary.LittleEndian.AppendUint32(nil, uint32(len(s)))) + s
}

// pyLong4 is LONG4 of n bytes, all 0x11 (a positive number).
func pyLong4(n int) string {
	return "\x8b" + string(binary.LittleEndian.AppendUint32(nil, uint32(n))) + strings.Repeat("\x11", n)
}

func decodeOK(t *testing.T, b []byte) Record {
	t.Helper()
	rec, err := DecodeDatagram(b, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkLines renders rec in both formats and checks the bounds every line
// keeps: one line, at most MaxLineSize, valid JSON in the JSON format.
func checkLines(t *testing.T, rec *Record) (text, js string) {
	t.Helper()
	for _, f := range []Format{FormatText, FormatJSON} {
		line := AppendLine(nil, rec, f, time.UTC)
		if len(line) > MaxLineSize || bytes.IndexByte(line, '\n') != len(line)-1 || !utf8.Valid(line) {
			t.Fatalf("%s line of %d bytes is not one valid line within %d", f, len(line), MaxLineSize)
		}
		if f == FormatJSON {
			if !json.Valid(line) {
				t.Fatalf("json line is not JSON: %.300q", line)
			}
			js = string(line)
		} else {
			text = string(line)
		}
	}
	return text, js
}

func TestBigPickledIntegersAreMarkedNotConverted(t *testing.T) {
	// Finding 5 of issue 16: a 60,000-byte LONG4 took 9 ms to turn into
	// 144 KB of decimal. Above maxIntBytes it is never converted.
	rec := decodeOK(t, pyRecord(pyLong4(60000), pyLong4(maxIntBytes+1)))
	if rec.Msg != "<int of 60000 bytes>" || string(fieldOf(&rec, "x")) != `"<int of 33 bytes>"` || !rec.capped {
		t.Fatalf("msg %q, x %s, capped %v", rec.Msg, fieldOf(&rec, "x"), rec.capped)
	}
	text, _ := checkLines(t, &rec)
	if !strings.HasSuffix(text, "]INFO:<int of 60000 bytes> x=\"<int of 33 bytes>\"\n") {
		t.Fatalf("text line %q", text)
	}

	// At the bound the number is written out.
	want := new(big.Int).SetBytes(bytes.Repeat([]byte{0x11}, maxIntBytes)).String()
	rec = decodeOK(t, pyRecord(pyStr("m"), pyLong4(maxIntBytes)))
	if got := string(fieldOf(&rec, "x")); got != want || rec.capped {
		t.Fatalf("x = %s, want %s (capped %v)", got, want, rec.capped)
	}

	// Protocol 1 pickles big integers as text ("L<digits>L\n").
	digits := strings.Repeat("7", maxIntDigits)
	rec = decodeOK(t, pyRecord("L"+digits+"9L\n", "L"+digits+"L\n"))
	if rec.Msg != "<int of 81 bytes>" || string(fieldOf(&rec, "x")) != digits {
		t.Fatalf("msg %q, x %s", rec.Msg, fieldOf(&rec, "x"))
	}
}

func TestLongPickledStringsAreCutBeforeConversion(t *testing.T) {
	long := strings.Repeat("é", 20000) // 40,000 bytes
	rec := decodeOK(t, pyRecord(pyStr(long), "B"+string(binary.LittleEndian.AppendUint32(nil, maxStrBytes+1))+strings.Repeat("\xff", maxStrBytes+1)))
	if len(rec.Msg) > maxStrBytes+len("…") || !strings.HasSuffix(rec.Msg, "é…") || !utf8.ValidString(rec.Msg) {
		t.Fatalf("msg of %d bytes ends %q", len(rec.Msg), rec.Msg[len(rec.Msg)-8:])
	}
	if got := string(fieldOf(&rec, "x")); got != `"<bytes of 16385 bytes>"` {
		t.Fatalf("x = %s", got)
	}
	text, js := checkLines(t, &rec)
	if !strings.HasSuffix(text, "é …[udplog: cut, datagram of "+strconv.Itoa(len(pyRecord(pyStr(long), ""))+len("B")+4+maxStrBytes+1)+" bytes]\n") {
		t.Fatalf("text line ends %q", text[len(text)-80:])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil || !strings.HasSuffix(m["msg"].(string), "é…") || m["udplog_cut"] == nil {
		t.Fatalf("json line %v: msg ends %q, udplog_cut %v", err, m["msg"].(string)[len(m["msg"].(string))-8:], m["udplog_cut"])
	}
}

func TestSharedPickleReferencesRenderWithinOneLine(t *testing.T) {
	// 15,000 references to one 3 KB string were 45 MB of JSON; now the
	// rendering stops at a line's worth and closes the list.
	x := "(" + pyStr(strings.Repeat("a", 3000)) + "q\x00" + strings.Repeat("h\x00", 15000) + "l"
	rec := decodeOK(t, pyRecord(pyStr("m"), x))
	v := fieldOf(&rec, "x")
	if len(v) > MaxLineSize+256 || !json.Valid(v) || !bytes.HasSuffix(v, []byte(`,"…"]`)) || !rec.capped {
		t.Fatalf("x is %d bytes, ends %q", len(v), v[max(len(v)-20, 0):])
	}
	checkLines(t, &rec)
}

func TestPickleWithTooManyValuesIsRejected(t *testing.T) {
	_, err := DecodeDatagram(pyRecord(pyStr("m"), "("+strings.Repeat("N", pickleMaxValues)+"l"), testNow)
	if !errors.Is(err, ErrBadPickle) || !strings.Contains(err.Error(), "more than 20000 values") {
		t.Fatalf("got %v", err)
	}
	rec := decodeOK(t, pyRecord(pyStr("m"), "("+strings.Repeat("N", pickleMaxValues-10)+"l"))
	checkLines(t, &rec)
}

func TestLongJSONRecordIsCutWithMarker(t *testing.T) {
	msg := strings.Repeat("x", 40000)
	b := []byte(`{"level":"info","msg":"` + msg + `","a":1,"pid":7}`)
	rec := decodeOK(t, b)
	text, js := checkLines(t, &rec)
	if !strings.HasSuffix(text, "x …[udplog: cut, datagram of "+strconv.Itoa(len(b))+" bytes]\n") {
		t.Fatalf("text line ends %q", text[len(text)-60:])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	if m["level"] != "INFO" || m["pid"] != 7.0 || m["udplog_cut"] != float64(len(b)) || !strings.HasSuffix(m["msg"].(string), "x…") {
		t.Fatalf("json line fields %v %v %v", m["level"], m["pid"], m["udplog_cut"])
	}
	if _, ok := m["a"]; ok {
		t.Fatal("a field was written after a msg that filled the line")
	}

	// A short msg and a long field: the field that does not fit whole is
	// left out, the ones that fit are kept.
	b = []byte(`{"level":"info","msg":"short","big":"` + msg + `","small":2}`)
	rec = decodeOK(t, b)
	_, js = checkLines(t, &rec)
	m = nil
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	if m["msg"] != "short" || m["small"] != 2.0 || m["big"] != nil || m["udplog_cut"] != float64(len(b)) {
		t.Fatalf("json line %v", m)
	}
}

func TestControlCharactersStayEscapedWhenCut(t *testing.T) {
	rec := decodeOK(t, []byte(`{"level":"info","msg":"`+strings.Repeat(`\u001b`, 10000)+`"}`))
	text, _ := checkLines(t, &rec)
	if strings.ContainsRune(text, 0x1b) || !strings.Contains(text, `]INFO:\x1b\x1b`) {
		t.Fatalf("text line starts %q", text[:60])
	}
}

func TestJSONRecordKeepsAtMostMaxFields(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"level":"info"`)
	for i := range 1000 {
		b.WriteString(`,"f` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString(`,"msg":"last","pid":9}`) // the record's own keys still count
	rec := decodeOK(t, []byte(b.String()))
	if len(rec.Fields) != maxFields || rec.Msg != "last" || rec.PID != 9 || !rec.capped {
		t.Fatalf("%d fields, msg %q, pid %d, capped %v", len(rec.Fields), rec.Msg, rec.PID, rec.capped)
	}
	checkLines(t, &rec)
}

func TestPickledFloatsAreWrittenAsEncodingJSONDoes(t *testing.T) {
	for _, f := range []float64{0, 1, -2.5, 1e-7, 1.5e-6, 123456789, 1e20, 1e21, 3.4e38, -5e-324, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := appendJSONFloat(nil, f); string(got) != string(want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
	if got := string(appendJSONFloat(nil, math.NaN())); got != `"NaN"` {
		t.Errorf("NaN: %s", got)
	}
}

func TestAppendJSONTextMaxIsValidAndBounded(t *testing.T) {
	inputs := []string{"", "plain", strings.Repeat("é", 100), strings.Repeat("\x01", 100), "a\"b\\c\n", "bad \xff utf8", strings.Repeat("日本", 50)}
	for _, s := range inputs {
		for end := 0; end < 3*len(s)+10; end++ {
			out, cut := appendJSONTextMax(nil, s, end)
			var got string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%q end %d: %q is not a JSON string: %v", s, end, out, err)
			}
			valid := strings.ToValidUTF8(s, "\uFFFD")
			switch {
			case !cut && got != valid:
				t.Fatalf("%q end %d: uncut %q", s, end, got)
			case cut && (!strings.HasSuffix(got, "…") || !strings.HasPrefix(valid, strings.TrimSuffix(got, "…"))):
				t.Fatalf("%q end %d: cut %q is not a prefix with a marker", s, end, got)
			case len(out) > max(end, 0)+len(`\u0001…"`)+1:
				t.Fatalf("%q end %d: %d bytes", s, end, len(out))
			}
		}
	}
}
