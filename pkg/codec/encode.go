package codec

import (
	"unicode/utf8"
)

// The fixed parts of the envelopes, laid out byte for byte as py-servicebus
// 2.x writes them (four-space indent, a newline after every line).
const (
	xmlDecl        = "<?xml version=\"1.0\"?>\n"
	eventOpen      = "<event version=\""
	eventIDOpen    = "\">\n    <id>"
	eventToken     = "</id>\n    <token>"
	eventCategory  = "</token>\n    <catgory>"
	eventService   = "</catgory>\n    <service>"
	eventParams    = "</service>\n    <params><![CDATA["
	eventClose     = "]]></params>\n</event>\n"
	responseOpen   = "<response>\n    <id>"
	responseMsg    = "</id>\n    <message><![CDATA["
	responseClose  = "]]></message>\n</response>\n"
	defaultVersion = "1"
	cdataEnd       = "]]>"
	cdataOpen      = "<![CDATA["
)

var nullParams = []byte("null")

// EncodeEvent returns the call envelope of ev. Empty (or blank) params are
// written as JSON null, an empty version as "1".
func EncodeEvent(ev *Event) []byte {
	n := len(xmlDecl) + len(eventOpen) + len(eventIDOpen) + len(eventToken) + len(eventCategory) +
		len(eventService) + len(eventParams) + len(eventClose) + len(ev.Version) + len(ev.ID) +
		len(ev.Token) + len(ev.Category) + len(ev.Service) + len(ev.Params) + 16
	return AppendEvent(make([]byte, 0, n), ev)
}

// AppendEvent appends the call envelope of ev to dst and returns the extended
// buffer. Text is XML-escaped; params go into a CDATA section that is split
// where they contain "]]>". Invalid UTF-8 and characters XML cannot carry are
// written as U+FFFD, so the output is always well-formed.
func AppendEvent(dst []byte, ev *Event) []byte {
	dst = append(dst, xmlDecl...)
	dst = append(dst, eventOpen...)
	if ev.Version == "" {
		dst = append(dst, defaultVersion...)
	} else {
		dst = appendEscaped(dst, ev.Version, true)
	}
	dst = append(dst, eventIDOpen...)
	dst = appendEscaped(dst, ev.ID, false)
	dst = append(dst, eventToken...)
	dst = appendEscaped(dst, ev.Token, false)
	dst = append(dst, eventCategory...)
	dst = appendEscaped(dst, ev.Category, false)
	dst = append(dst, eventService...)
	dst = appendEscaped(dst, ev.Service, false)
	dst = append(dst, eventParams...)
	if len(trimSpace(ev.Params)) == 0 {
		dst = append(dst, nullParams...)
	} else {
		dst = appendCDATA(dst, []byte(ev.Params))
	}
	return append(dst, eventClose...)
}

// EncodeResponse returns the response envelope of r.
func EncodeResponse(r *Response) []byte {
	n := len(xmlDecl) + len(responseOpen) + len(responseMsg) + len(responseClose) +
		len(r.ID) + len(r.Message) + 16
	return AppendResponse(make([]byte, 0, n), r)
}

// AppendResponse appends the response envelope of r to dst and returns the
// extended buffer. The message goes into a CDATA section, split where it
// contains "]]>".
func AppendResponse(dst []byte, r *Response) []byte {
	dst = append(dst, xmlDecl...)
	dst = append(dst, responseOpen...)
	dst = appendEscaped(dst, r.ID, false)
	dst = append(dst, responseMsg...)
	dst = appendCDATA(dst, r.Message)
	return append(dst, responseClose...)
}

// plainText reports whether c needs no escaping in text or CDATA.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = true
	}
	t['\t'], t['\n'] = true, true
	return t
}()

// appendEscaped writes s as XML character data (attr: as an attribute value
// in double quotes). It escapes like Python's minidom (& < > ") and writes
// \r (and in attributes \t and \n) as character references, which survive
// the line-end and attribute-value normalization of every XML parser.
func appendEscaped[S string | []byte](dst []byte, s S, attr bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainText[c] && c != '&' && c != '<' && c != '>' && c != '"' && !(attr && (c == '\t' || c == '\n')) {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		var esc string
		size := 1
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\r':
			esc = "&#13;"
		case '\t':
			esc = "&#9;"
		case '\n':
			esc = "&#10;"
		default:
			var r rune
			r, size = decodeRune(s[i:])
			if isXMLChar(r) && !(r == utf8.RuneError && size == 1) {
				dst = append(dst, s[i:i+size]...)
			} else {
				esc = "\uFFFD"
			}
		}
		dst = append(dst, esc...)
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

// appendCDATA writes s as the inside of a CDATA section that the caller has
// opened and will close. "]]>" is split across two sections; \r, which every
// parser would turn into \n, leaves the section as a character reference;
// invalid UTF-8 and non-XML characters become U+FFFD.
func appendCDATA[S string | []byte](dst []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainText[c] && c != ']' {
			i++
			continue
		}
		if c == ']' {
			if i+2 < len(s) && s[i+1] == ']' && s[i+2] == '>' {
				// "]]" ends this section, ">" starts the next one.
				dst = append(dst, s[start:i+2]...)
				dst = append(dst, cdataEnd+cdataOpen...)
				i += 2
				start = i
				continue
			}
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		size := 1
		if c == '\r' {
			dst = append(dst, cdataEnd+"&#13;"+cdataOpen...)
		} else {
			var r rune
			r, size = decodeRune(s[i:])
			if isXMLChar(r) && !(r == utf8.RuneError && size == 1) {
				dst = append(dst, s[i:i+size]...)
			} else {
				dst = append(dst, "\uFFFD"...)
			}
		}
		i += size
		start = i
	}
	return append(dst, s[start:]...)
}

func decodeRune[S string | []byte](s S) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	panic("unreachable")
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20:
		return false
	case r < 0xD800:
		return true
	case r < 0xE000:
		return false
	case r <= 0xFFFD:
		return true
	case r < 0x10000:
		return false
	default:
		return r <= utf8.MaxRune
	}
}

// appendSanitized appends s with invalid UTF-8 and non-XML characters
// replaced by U+FFFD, as the encoder writes them.
func appendSanitized[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); {
		r, size := decodeRune(s[i:])
		if isXMLChar(r) && !(r == utf8.RuneError && size == 1) {
			dst = append(dst, s[i:i+size]...)
		} else {
			dst = append(dst, "\uFFFD"...)
		}
		i += size
	}
	return dst
}
