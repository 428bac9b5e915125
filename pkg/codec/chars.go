package codec

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// appendNormalized appends s with "\r\n" and "\r" turned into "\n", as XML
// requires of a parser.
func appendNormalized(dst, s []byte) []byte {
	for {
		i := bytes.IndexByte(s, '\r')
		if i < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, '\n')
		s = s[i+1:]
		if len(s) > 0 && s[0] == '\n' {
			s = s[1:]
		}
	}
}

// text reads character data up to the byte stop ('<' in content, the quote
// in an attribute value), decoding references and normalizing line ends
// (and, in attribute values, white space). It leaves d.pos at stop.
func (d *decoder) text(dst []byte, stop byte, keep bool) ([]byte, error) {
	attr := stop != '<'
	start := d.pos
	for d.pos < len(d.b) {
		c := d.b[d.pos]
		if !textSpecial[c] {
			d.pos++
			continue
		}
		switch {
		case c == stop:
			if keep {
				dst = append(dst, d.b[start:d.pos]...)
			}
			return dst, nil
		case c == '<':
			return dst, d.err(ErrMalformed, "'<' in an attribute value")
		case c == ']' && !attr && d.hasPrefix("]]>"):
			return dst, d.err(ErrMalformed, "']]>' in text")
		case c == '&':
			if keep {
				dst = append(dst, d.b[start:d.pos]...)
			}
			r, err := d.reference()
			if err != nil {
				return dst, err
			}
			if keep {
				dst = appendRune(dst, r)
			}
			start = d.pos
		case c == '\r' || (attr && (c == '\n' || c == '\t')):
			if keep {
				dst = append(dst, d.b[start:d.pos]...)
				if attr {
					dst = append(dst, ' ')
				} else {
					dst = append(dst, '\n')
				}
			}
			d.pos++
			if c == '\r' && d.pos < len(d.b) && d.b[d.pos] == '\n' {
				d.pos++
			}
			start = d.pos
		default:
			d.pos++
		}
	}
	if attr {
		return dst, d.err(ErrMalformed, "unterminated attribute value")
	}
	if keep {
		dst = append(dst, d.b[start:]...)
	}
	return dst, nil
}

// textSpecial marks the bytes text() must look at.
var textSpecial = func() (t [256]bool) {
	for _, c := range []byte("<>&]\r\n\t\"'") {
		t[c] = true
	}
	return t
}()

func appendRune(dst []byte, r rune) []byte {
	if r < 0x80 {
		return append(dst, byte(r))
	}
	return utf8.AppendRune(dst, r)
}

// reference reads an entity or character reference at d.pos ('&').
func (d *decoder) reference() (rune, error) {
	start := d.pos
	end := bytes.IndexByte(d.b[start:min(len(d.b), start+12)], ';')
	if end < 0 {
		return 0, d.err(ErrMalformed, "'&' that does not start a reference")
	}
	ref := d.b[start+1 : start+end]
	d.pos = start + end + 1
	switch string(ref) {
	case "lt":
		return '<', nil
	case "gt":
		return '>', nil
	case "amp":
		return '&', nil
	case "quot":
		return '"', nil
	case "apos":
		return '\'', nil
	}
	if len(ref) < 2 || ref[0] != '#' {
		return 0, d.errAt(ErrMalformed, start, "undefined entity reference")
	}
	digits, base := ref[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || digits[0] == '+' || digits[0] == '-' {
		return 0, d.errAt(ErrMalformed, start, "bad character reference")
	}
	n := 0
	for _, c := range digits {
		var v int
		switch {
		case '0' <= c && c <= '9':
			v = int(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			v = int(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			v = int(c-'A') + 10
		default:
			return 0, d.errAt(ErrMalformed, start, "bad character reference")
		}
		if n = n*base + v; n > utf8.MaxRune {
			return 0, d.errAt(ErrMalformed, start, "bad character reference")
		}
	}
	if !isXMLChar(rune(n)) {
		return 0, d.errAt(ErrMalformed, start, "bad character reference")
	}
	return rune(n), nil
}

// checkChars rejects invalid UTF-8 and characters that XML 1.0 forbids (NUL
// and other C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF).
func checkChars(b []byte) error {
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return &DecodeError{Offset: i, Reason: "invalid UTF-8 sequence", Err: ErrInvalidUTF8}
			}
			i += size
		}
	}
	// Valid UTF-8 (so no surrogates): look for the bytes of what is left.
	for i := 0; i < len(b); i++ {
		// Eight bytes at a time while they are all in 0x20..0x7F: neither
		// a high bit nor a borrow from subtracting 0x20 in any byte.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if (w|(w-0x2020202020202020))&0x8080808080808080 != 0 {
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r':
			return &DecodeError{Offset: i, Reason: "control character 0x" + strconv.FormatUint(uint64(c), 16), Err: ErrMalformed}
		case c == 0xEF && i+2 < len(b) && b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF):
			return &DecodeError{Offset: i, Reason: "character U+FFFE or U+FFFF is not allowed in XML", Err: ErrMalformed}
		}
	}
	return nil
}

// validName reports whether b is an XML 1.0 (fifth edition) Name.
func validName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); {
		r, size := rune(b[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b[i:])
		}
		if !isNameStart(r) && (i == 0 || !isNameRest(r)) {
			return false
		}
		i += size
	}
	return true
}

func isNameStart(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', r == '_', r == ':':
		return true
	case r < 0xC0:
		return false
	}
	return r <= 0xD6 || 0xD8 <= r && r <= 0xF6 || 0xF8 <= r && r <= 0x2FF || 0x370 <= r && r <= 0x37D ||
		0x37F <= r && r <= 0x1FFF || 0x200C <= r && r <= 0x200D || 0x2070 <= r && r <= 0x218F ||
		0x2C00 <= r && r <= 0x2FEF || 0x3001 <= r && r <= 0xD7FF || 0xF900 <= r && r <= 0xFDCF ||
		0xFDF0 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0xEFFFF
}

func isNameRest(r rune) bool {
	return '0' <= r && r <= '9' || r == '-' || r == '.' || r == 0xB7 ||
		0x300 <= r && r <= 0x36F || 0x203F <= r && r <= 0x2040
}
