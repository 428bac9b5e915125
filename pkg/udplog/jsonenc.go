package udplog

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst, _ = appendJSONTextMax(dst, s, noLimit)
	return dst
}

// noLimit is an end appendJSONTextMax never reaches, with room below
// math.MaxInt for its arithmetic.
const noLimit = math.MaxInt - 16

// appendJSONValue appends v as JSON: the common scalar types directly,
// errors as their text, anything else through encoding/json, and what that
// cannot encode as its fmt text.
func appendJSONValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendJSONString(dst, v)
	case error:
		return appendJSONString(dst, v.Error())
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int32:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(dst, v, 10)
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return strconv.AppendFloat(dst, v, 'g', -1, 64)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return appendJSONString(dst, fmt.Sprintf("%+v", v))
	}
	return append(dst, b...)
}

// appendJSONTextMax is appendJSONString that stops where the output would
// pass end: what is left out is replaced by "…" inside the string. It
// reports whether it cut.
func appendJSONTextMax(dst []byte, s string, end int) ([]byte, bool) {
	dst = append(dst, '"')
	limit := end - len(`…"`) // where a cut string stops, its marker after
	start := 0
	for i := 0; i < len(s); {
		if len(dst)+(i-start) > limit+len(`…`) { // cannot end by end any more
			dst = append(dst, cutUTF8(s[start:i], max(limit-len(dst), 0))...)
			return append(dst, `…"`...), true
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	if len(dst)+(len(s)-start) > limit+len(`…`) {
		dst = append(dst, cutUTF8(s[start:], max(limit-len(dst), 0))...)
		return append(dst, `…"`...), true
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), false
}
