package udplog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Format is the layout of the lines the collector writes.
type Format string

const (
	// FormatText is py-servicebus's layout: [TIME PID:PID]LEVEL:MESSAGE,
	// followed by the record's other fields as key=JSON.
	FormatText Format = "text"
	// FormatJSON writes each record as one JSON object a line.
	FormatJSON Format = "json"
)

// textTime is Python logging's asctime layout.
const textTime = "2006-01-02 15:04:05,000"

// AppendLine appends rec as one line, newline included, in format f with
// times in loc. Control characters in text are escaped, so a record is
// always exactly one line.
func AppendLine(dst []byte, rec *Record, f Format, loc *time.Location) []byte {
	if f == FormatJSON {
		return appendJSONLine(dst, rec)
	}
	dst = append(dst, '[')
	dst = rec.Time.In(loc).AppendFormat(dst, textTime)
	dst = append(dst, " PID:"...)
	dst = strconv.AppendInt(dst, int64(rec.PID), 10)
	dst = append(dst, ']')
	dst = appendEscaped(dst, rec.Level)
	dst = append(dst, ':')
	dst = appendEscaped(dst, rec.Msg)
	for _, f := range rec.Fields {
		if rec.python && pythonStandard[f.Key] {
			continue
		}
		dst = append(dst, ' ')
		dst = appendEscaped(dst, f.Key)
		dst = append(dst, '=')
		dst = appendCompact(dst, f.Value)
	}
	return append(dst, '\n')
}

func appendJSONLine(dst []byte, rec *Record) []byte {
	if rec.raw != nil {
		dst = appendCompact(dst, rec.raw)
		return append(dst, '\n')
	}
	dst = append(dst, `{"time":"`...)
	dst = rec.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","level":`...)
	dst = appendJSONString(dst, rec.Level)
	dst = append(dst, `,"msg":`...)
	dst = appendJSONString(dst, rec.Msg)
	if rec.PID != 0 {
		dst = append(dst, `,"pid":`...)
		dst = strconv.AppendInt(dst, int64(rec.PID), 10)
	}
	for _, f := range rec.Fields {
		switch f.Key {
		case keyTime, keyLevel, keyMsg, keyPID:
			continue // a Python attribute may not shadow the record's own keys
		}
		dst = append(dst, ',')
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		dst = appendCompact(dst, f.Value)
	}
	return append(dst, "}\n"...)
}

func appendCompact(dst []byte, v []byte) []byte {
	if !hasSpaceOutsideStrings(v) {
		return append(dst, v...)
	}
	b := bytes.NewBuffer(dst)
	if err := json.Compact(b, v); err != nil {
		// Only valid JSON reaches here; keep the line whole regardless.
		return appendJSONString(dst, string(v))
	}
	return b.Bytes()
}

// appendEscaped writes s with control characters escaped Go-style.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, '\t')
		case c < 0x20 || c == 0x7f:
			dst = fmt.Appendf(dst, `\x%02x`, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// hasSpaceOutsideStrings tells whether a valid JSON value needs compacting.
// Inside strings, control characters are always escaped, so a raw newline
// can only be whitespace between tokens.
func hasSpaceOutsideStrings(v []byte) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			i = skipString(v, i) - 1
		case ' ', '\t', '\r', '\n':
			return true
		}
	}
	return false
}
