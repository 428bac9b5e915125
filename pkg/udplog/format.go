package udplog

import (
	"bytes"
	"encoding/json"
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
// always exactly one line, and the line is at most MaxLineSize bytes: a
// longer one is cut and says so (see MaxLineSize).
func AppendLine(dst []byte, rec *Record, f Format, loc *time.Location) []byte {
	dst, _ = appendLine(dst, rec, f, loc)
	return dst
}

// appendLine is AppendLine that also reports whether the line was cut.
func appendLine(dst []byte, rec *Record, f Format, loc *time.Location) ([]byte, bool) {
	if f == FormatJSON {
		return appendJSONLine(dst, rec)
	}
	return appendTextLine(dst, rec, loc)
}

// cutRoom is room kept for the marker of a cut line.
const cutRoom = 64

func appendTextLine(dst []byte, rec *Record, loc *time.Location) ([]byte, bool) {
	start := len(dst)
	limit := start + MaxLineSize - 1 // the newline follows
	dst = append(dst, '[')
	dst = rec.Time.In(loc).AppendFormat(dst, textTime)
	dst = append(dst, " PID:"...)
	dst = strconv.AppendInt(dst, int64(rec.PID), 10)
	dst = append(dst, ']')
	dst, cut := appendEscaped(dst, rec.Level, limit)
	dst = append(dst, ':')
	var c bool
	dst, c = appendEscaped(dst, rec.Msg, limit)
	cut = cut || c
	for _, f := range rec.Fields {
		if rec.python && pythonStandard[f.Key] {
			continue
		}
		if len(dst) > limit {
			cut = true
			break
		}
		dst = append(dst, ' ')
		dst, c = appendEscaped(dst, f.Key, limit)
		cut = cut || c
		dst = append(dst, '=')
		dst = appendCompact(dst, f.Value) // at most MaxRecordSize
	}
	if !cut && len(dst) <= limit {
		return append(dst, '\n'), false
	}
	dst = dst[:start+len(cutUTF8(dst[start:], MaxLineSize-cutRoom))]
	dst = append(dst, " …[udplog: cut, datagram of "...)
	dst = strconv.AppendInt(dst, int64(rec.size), 10)
	return append(dst, " bytes]\n"...), true
}

// appendJSONLine writes a JSON datagram as it came (compacted) and any other
// record from its parts. A line that would pass MaxLineSize is written from
// its parts too, its msg cut, with only the fields that fit whole, and
// "udplog_cut": the datagram's size.
func appendJSONLine(dst []byte, rec *Record) ([]byte, bool) {
	start := len(dst)
	if rec.raw != nil {
		dst = appendCompact(dst, rec.raw)
		if len(dst)-start < MaxLineSize {
			return append(dst, '\n'), false
		}
		dst = dst[:start]
	}
	end := start + MaxLineSize - cutRoom // the pid, the marker and the end follow
	dst = append(dst, `{"time":"`...)
	dst = rec.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","level":`...)
	dst, cut := appendJSONTextMax(dst, rec.Level, end)
	dst = append(dst, `,"msg":`...)
	var c bool
	dst, c = appendJSONTextMax(dst, rec.Msg, end)
	cut = cut || c
	if rec.PID != 0 {
		dst = append(dst, `,"pid":`...)
		dst = strconv.AppendInt(dst, int64(rec.PID), 10)
	}
	for _, f := range rec.Fields {
		switch f.Key {
		case keyTime, keyLevel, keyMsg, keyPID:
			continue // a Python attribute may not shadow the record's own keys
		}
		// Compacting only shrinks a value, and escaping makes a key at
		// most 6 times longer: what passes this test fits.
		if len(dst)+6*len(f.Key)+len(f.Value)+4 > end {
			cut = true
			continue
		}
		dst = append(dst, ',')
		dst = appendJSONString(dst, f.Key)
		dst = append(dst, ':')
		dst = appendCompact(dst, f.Value)
	}
	if cut {
		dst = append(dst, `,"udplog_cut":`...)
		dst = strconv.AppendInt(dst, int64(rec.size), 10)
	}
	return append(dst, "}\n"...), cut
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

// appendEscaped writes s with control characters escaped Go-style; it
// stops, reporting true, where the output would pass limit.
func appendEscaped(dst []byte, s string, limit int) ([]byte, bool) {
	cut := false
	if room := limit - len(dst); len(s) > room {
		s, cut = cutUTF8(s, max(room, 0)), true // no byte is written shorter
	}
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != 0x7f || c == '\t' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
		if len(dst) > limit {
			return dst, true
		}
	}
	return append(dst, s[start:]...), cut
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
