package udplog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
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
	// Fields holds every other field of the record as JSON, host included.
	Fields map[string]json.RawMessage

	raw    []byte // the datagram, when it was a JSON object
	python bool   // decoded from a Python LogRecord pickle
}

// DecodeDatagram decodes one datagram: a UTF-8 JSON object with at least
// "level" and "msg" ("time" is RFC 3339 text or Unix seconds; "pid" a
// number), or a Python logging.handlers.DatagramHandler record (a 4-byte
// big-endian length, then a pickled dict). now is used when the record
// carries no time. Errors wrap ErrTooLarge, ErrInvalidUTF8, ErrNotJSON,
// ErrMissingField or ErrBadPickle.
func DecodeDatagram(b []byte, now time.Time) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, ErrTooLarge
	}
	if len(b) >= 5 && b[0] == 0 {
		return decodePython(b, now)
	}
	return decodeJSON(b, now)
}

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
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t, &m); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	lv, okL := m[keyLevel]
	ms, okM := m[keyMsg]
	if !okL || !okM {
		return Record{}, ErrMissingField
	}
	rec := Record{Level: strings.ToUpper(jsonText(lv)), Msg: jsonText(ms), raw: t}
	delete(m, keyLevel)
	delete(m, keyMsg)
	rec.Time = now
	if tv, ok := m[keyTime]; ok {
		if tm, ok := parseTime(tv); ok {
			rec.Time = tm
		}
		delete(m, keyTime)
	}
	if pv, ok := m[keyPID]; ok {
		if n, err := strconv.Atoi(string(pv)); err == nil {
			rec.PID = n
			delete(m, keyPID)
		}
	}
	rec.Fields = m
	return rec, nil
}

// jsonText is a JSON string's text, or any other JSON value as written.
func jsonText(v json.RawMessage) string {
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

func parseTime(v json.RawMessage) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
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
	d, err := decodePickle(b[4:])
	if err != nil {
		return Record{}, err
	}
	rec := Record{Time: now, python: true, Fields: make(map[string]json.RawMessage, len(d))}
	if s, ok := d["levelname"].(string); ok {
		rec.Level = strings.ToUpper(s)
	} else {
		return Record{}, fmt.Errorf("%w: record has no levelname", ErrMissingField)
	}
	switch m := d["msg"].(type) {
	case string:
		rec.Msg = m
	case nil:
		return Record{}, fmt.Errorf("%w: record has no msg", ErrMissingField)
	default:
		j, _ := json.Marshal(m)
		rec.Msg = string(j)
	}
	switch c := d["created"].(type) {
	case float64:
		if math.Abs(c) < 1e11 {
			rec.Time = unixFloat(c)
		}
	case int64:
		rec.Time = time.Unix(c, 0)
	}
	if p, ok := d["process"].(int64); ok && p >= 0 && p <= math.MaxInt32 {
		rec.PID = int(p)
	}
	for k, v := range d {
		switch k {
		case "levelname", "msg", "created", "process":
			continue
		}
		if v == nil {
			continue
		}
		j, err := json.Marshal(v)
		if err != nil {
			return Record{}, fmt.Errorf("%w: field %q: %v", ErrBadPickle, k, err)
		}
		rec.Fields[k] = j
	}
	return rec, nil
}
