package udplog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxRecordSize is the largest datagram the collector accepts (60 KiB).
const MaxRecordSize = 60 << 10

// Record is one decoded log record.
type Record struct {
	Time  time.Time // the sender's time; the receive time when the record has none
	Level string    // upper case: INFO, WARNING, ...
	Msg   string
	PID   int // 0 when unknown
	// Fields holds every other field of the record, host included, sorted
	// by key.
	Fields []Field

	raw    []byte // the datagram, when it was a JSON object
	python bool   // decoded from a Python LogRecord pickle
	size   int    // bytes of the datagram
	capped bool   // a value was cut or replaced by a marker (limits.go)
}

// Field is one field of a record besides level, msg, time and pid.
type Field struct {
	Key   string
	Value json.RawMessage // as received, whitespace included
}

// DecodeDatagram decodes one datagram: a UTF-8 JSON object with at least
// "level" and "msg" ("time" is RFC 3339 text or Unix seconds; "pid" a
// number), or a Python logging.handlers.DatagramHandler record (a 4-byte
// big-endian length, then a pickled dict). now is used when the record
// carries no time. The Record's field values share memory with b. Values
// that would cost too much to convert are capped first (see MaxLineSize).
// Errors wrap ErrTooLarge, ErrInvalidUTF8, ErrNotJSON, ErrMissingField or
// ErrBadPickle.
func DecodeDatagram(b []byte, now time.Time) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, ErrTooLarge
	}
	if isPython(b) {
		return decodePython(b, now)
	}
	return decodeJSON(b, now)
}

// isPython tells a DatagramHandler datagram (a big-endian length, which
// starts with a zero byte below 16 MiB) from JSON, which cannot start so.
func isPython(b []byte) bool { return len(b) >= 5 && b[0] == 0 }

const (
	keyLevel = "level"
	keyMsg   = "msg"
	keyTime  = "time"
	keyPID   = "pid"
)

func decodeJSON(b []byte, now time.Time) (Record, error) {
	if !utf8.Valid(b) {
		return Record{}, ErrInvalidUTF8
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' {
		return Record{}, ErrNotJSON
	}
	rec := Record{Time: now, raw: t, size: len(b), Fields: make([]Field, 0, 8)}
	var haveLevel, haveMsg bool
	ok := scanObject(t, func(key, val []byte) {
		var k string
		if len(rec.Fields) < maxFields || bytes.IndexByte(key, '\\') >= 0 {
			k = jsonKey(key)
		} else if k = ownKey(key[1 : len(key)-1]); k == "" {
			rec.capped = true // past maxFields: checked, not kept
			return
		}
		switch k {
		case keyLevel:
			rec.Level, haveLevel = strings.ToUpper(jsonText(val)), true
		case keyMsg:
			rec.Msg, haveMsg = jsonText(val), true
		case keyTime:
			if tm, ok := parseTime(val); ok {
				rec.Time = tm
			}
		case keyPID:
			if n, err := strconv.Atoi(string(val)); err == nil {
				rec.PID = n
				return
			}
			fallthrough
		default:
			if len(rec.Fields) >= maxFields {
				rec.capped = true
				return
			}
			rec.Fields = append(rec.Fields, Field{k, val})
		}
	})
	if !ok {
		// Only to say what is wrong: into a RawMessage, encoding/json checks
		// the syntax without building anything.
		var raw json.RawMessage
		if err := json.Unmarshal(t, &raw); err != nil {
			return Record{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
		}
		return Record{}, fmt.Errorf("%w: nested deeper than %d", ErrNotJSON, maxJSONDepth)
	}
	if !haveLevel || !haveMsg {
		return Record{}, ErrMissingField
	}
	if rec.Level == "WARN" {
		rec.Level = "WARNING" // slog's name; logrus and Python say WARNING
	}
	sortFields(rec.Fields)
	return rec, nil
}

// ownKey is the record key named by an unescaped JSON key, or "".
func ownKey(k []byte) string {
	switch string(k) {
	case keyLevel:
		return keyLevel
	case keyMsg:
		return keyMsg
	case keyTime:
		return keyTime
	case keyPID:
		return keyPID
	}
	return ""
}

func sortFields(f []Field) {
	slices.SortStableFunc(f, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// jsonKey is the text of a raw JSON string (quotes included).
func jsonKey(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 && len(raw) >= 2 {
		return string(raw[1 : len(raw)-1])
	}
	return jsonText(raw)
}

// jsonText is a JSON string's text, or any other JSON value as written.
func jsonText(v []byte) string {
	if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1])
	}
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

func parseTime(v []byte) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	if v[0] == '"' {
		t, err := time.Parse(time.RFC3339Nano, jsonText(v))
		return t, err == nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
		return time.Time{}, false
	}
	return unixFloat(f), true
}

func unixFloat(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// pythonStandard are LogRecord attributes the text format does not repeat.
var pythonStandard = map[string]bool{
	"name": true, "msg": true, "args": true, "levelname": true, "levelno": true,
	"pathname": true, "filename": true, "module": true, "exc_info": true,
	"lineno": true, "funcName": true, "created": true, "msecs": true,
	"relativeCreated": true, "thread": true, "threadName": true,
	"processName": true, "process": true, "taskName": true, "message": true,
	"asctime": true,
}

func decodePython(b []byte, now time.Time) (Record, error) {
	n := binary.BigEndian.Uint32(b)
	if uint64(n) != uint64(len(b)-4) {
		return Record{}, fmt.Errorf("%w: length prefix %d, payload %d bytes", ErrBadPickle, n, len(b)-4)
	}
	d, valuesCapped, err := decodePickle(b[4:])
	if err != nil {
		return Record{}, err
	}
	rec := Record{Time: now, python: true, size: len(b), capped: valuesCapped, Fields: make([]Field, 0, len(d.m))}
	if s, ok := d.m["levelname"].(string); ok {
		rec.Level = strings.ToUpper(s)
	} else {
		return Record{}, fmt.Errorf("%w: record has no levelname", ErrMissingField)
	}
	switch m := d.m["msg"].(type) {
	case string:
		rec.Msg = m
	case nil:
		return Record{}, fmt.Errorf("%w: record has no msg", ErrMissingField)
	case capped:
		rec.Msg = m.String()
	default:
		j, cut := appendPickled(nil, m, MaxLineSize)
		rec.Msg, rec.capped = string(j), rec.capped || cut
	}
	switch c := d.m["created"].(type) {
	case float64:
		if math.Abs(c) < 1e11 {
			rec.Time = unixFloat(c)
		}
	case int64:
		rec.Time = time.Unix(c, 0)
	}
	if p, ok := d.m["process"].(int64); ok && p >= 0 && p <= math.MaxInt32 {
		rec.PID = int(p)
	}
	// All values share one buffer, and stop at one line's worth: the
	// fields after that could not be written anyway.
	var buf []byte
	for _, k := range sortedKeys(d.m) {
		v := d.m[k]
		switch k {
		case "levelname", "msg", "created", "process":
			continue
		}
		if v == nil {
			continue
		}
		if len(buf) >= MaxLineSize {
			rec.capped = true
			break
		}
		start := len(buf)
		var cut bool
		buf, cut = appendPickled(buf, v, MaxLineSize)
		rec.capped = rec.capped || cut
		rec.Fields = append(rec.Fields, Field{k, buf[start:len(buf):len(buf)]})
	}
	return rec, nil
}
