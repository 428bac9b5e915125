package udplog

import (
	"encoding/base64"
	"math"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Rendering what a pickle built as JSON within a byte budget. Each renderer
// gets end, the length of dst past which it renders nothing more: a string
// is cut there with "…", and a container that reaches it closes with one
// "…" member in place of the rest. The output stays valid JSON and passes
// end by at most one short value and the closing of the open containers, so
// the work is bounded by end whatever the pickle shares or repeats.

// appendPickled appends v as JSON and reports whether anything was cut.
func appendPickled(dst []byte, v any, end int) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), false
	case bool:
		return strconv.AppendBool(dst, v), false
	case int64:
		return strconv.AppendInt(dst, v, 10), false
	case *big.Int:
		return v.Append(dst, 10), false // at most maxIntBytes long
	case capped:
		return appendJSONString(dst, v.String()), false // counted when it was capped
	case float64:
		return appendJSONFloat(dst, v), false
	case string:
		return appendJSONTextMax(dst, v, end)
	case []byte:
		if utf8.Valid(v) {
			return appendJSONTextMax(dst, string(v), end)
		}
		return appendBase64Max(dst, v, end)
	case *pyDict:
		return appendPickledDict(dst, v, end)
	case *pyList:
		return appendPickledSeq(dst, v.items, end)
	case pyTuple:
		return appendPickledSeq(dst, v, end)
	}
	return append(dst, "null"...), true // unreachable: the reader builds nothing else
}

func appendPickledSeq(dst []byte, items []any, end int) ([]byte, bool) {
	dst = append(dst, '[')
	cut := false
	for i, e := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(dst) >= end {
			dst = append(dst, `"…"`...)
			cut = true
			break
		}
		var c bool
		dst, c = appendPickled(dst, e, end)
		cut = cut || c
	}
	return append(dst, ']'), cut
}

// appendPickledDict writes the keys sorted, as encoding/json does for maps.
func appendPickledDict(dst []byte, d *pyDict, end int) ([]byte, bool) {
	if len(d.m) == 0 {
		return append(dst, "{}"...), false
	}
	dst = append(dst, '{')
	cut := false
	for i, k := range sortedKeys(d.m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		if len(dst) >= end {
			dst = append(dst, `"…":"…"`...)
			cut = true
			break
		}
		var c bool
		dst, c = appendJSONTextMax(dst, k, end)
		dst = append(dst, ':')
		cut = cut || c
		dst, c = appendPickled(dst, d.m[k], end)
		cut = cut || c
	}
	return append(dst, '}'), cut
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendJSONFloat writes f as encoding/json does (exponent form only for
// very small or large values); NaN and infinities, which JSON lacks, become
// strings.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendJSONString(dst, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendBase64Max writes bytes that are not UTF-8 as a base64 string, as
// encoding/json does, cut with "…" where it would pass end.
func appendBase64Max(dst []byte, p []byte, end int) ([]byte, bool) {
	cut := false
	if room := (end - len(dst) - 2) / 4 * 3; base64.StdEncoding.EncodedLen(len(p)) > end-len(dst)-2 {
		p, cut = p[:max(room, 0)], true
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, p)
	if cut {
		dst = append(dst, "…"...)
	}
	return append(dst, '"'), cut
}
