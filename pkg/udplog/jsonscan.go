package udplog

// A validating scanner for one JSON object: a single pass that checks the
// syntax and hands over each top-level member's raw key and value, where
// json.Valid followed by a split would read every byte twice. Fuzzed against
// encoding/json (FuzzScanObject).

// maxJSONDepth bounds nesting; deeper input is rejected.
const maxJSONDepth = 512

type jsonScanner struct {
	b     []byte
	i     int
	depth int
}

// scanObject reports whether b is exactly one JSON object (surrounding
// whitespace allowed), calling fn for each member. b must be valid UTF-8.
func scanObject(b []byte, fn func(key, val []byte)) bool {
	s := jsonScanner{b: b}
	s.space()
	if s.i >= len(b) || b[s.i] != '{' {
		return false
	}
	if !s.object(fn) {
		return false
	}
	s.space()
	return s.i == len(b)
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads {...} at s.i; fn (may be nil) gets each member.
func (s *jsonScanner) object(fn func(key, val []byte)) bool {
	return s.container('}', func() bool {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		k0 := s.i
		if !s.str() {
			return false
		}
		key := s.b[k0:s.i]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		v0 := s.i
		if !s.value() {
			return false
		}
		if fn != nil {
			fn(key, s.b[v0:s.i])
		}
		return true
	})
}

// array reads [...] at s.i.
func (s *jsonScanner) array() bool {
	return s.container(']', s.value)
}

// container reads the object or array at s.i up to its closing byte end:
// member reads one member at s.i, the members separated by commas.
func (s *jsonScanner) container(end byte, member func() bool) bool {
	if s.depth++; s.depth > maxJSONDepth {
		return false
	}
	s.i++ // '{' or '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == end {
		s.i++
		s.depth--
		return true
	}
	for {
		if !member() {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.space()
		case end:
			s.i++
			s.depth--
			return true
		default:
			return false
		}
	}
}

func (s *jsonScanner) value() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(nil)
	case c == '[':
		return s.array()
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *jsonScanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

func (s *jsonScanner) str() bool {
	s.i++ // '"'
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return false
					}
				}
				s.i += 5
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *jsonScanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}
