package codec

import (
	"bytes"
	"strconv"
)

// maxDepth bounds the nesting of elements we skip; deeper input is rejected
// rather than tracked.
const maxDepth = 64

// maxAttrs bounds the attributes of one element (duplicate detection is
// quadratic in their number).
const maxAttrs = 32

// decoder is a scanner for the small, well-formed XML subset the envelopes
// use: a prolog of an XML declaration, comments and processing instructions;
// one root element; elements with attributes; text with the five predefined
// entities and character references; CDATA sections; comments. It rejects
// DOCTYPE and entity declarations, and never expands anything else.
type decoder struct {
	b           []byte
	pos         int
	tagStart    int // offset of the '<' of the last tag read
	rootStart   int
	selfClosing bool // the last start tag ended in "/>"
	hasVersion  bool
	versionAt   int              // offset of the root's version attribute value
	versionQ    byte             // and its quote
	attrs       [maxAttrs][]byte // names of the current tag's attributes
}

func (d *decoder) errAt(kind error, off int, reason string) error {
	return &DecodeError{Offset: off, Reason: reason, Err: kind}
}

func (d *decoder) err(kind error, reason string) error {
	return d.errAt(kind, d.pos, reason)
}

// begin checks size and characters of the whole body, then reads the prolog
// up to the '<' of the root element.
func (d *decoder) begin(opt Options) error {
	if max := opt.maxBodySize(); len(d.b) > max {
		return d.errAt(ErrTooLarge, max, "the body is "+strconv.Itoa(len(d.b))+" bytes, the limit is "+strconv.Itoa(max))
	}
	if err := checkChars(d.b); err != nil {
		return err
	}
	if bytes.HasPrefix(d.b, []byte("\xEF\xBB\xBF")) {
		d.pos = 3
	}
	if d.hasPrefix("<?xml") && d.pos+5 < len(d.b) && (isSpace(d.b[d.pos+5]) || d.b[d.pos+5] == '?') {
		if err := d.xmlDecl(); err != nil {
			return err
		}
	}
	if err := d.misc(); err != nil {
		return err
	}
	if d.pos >= len(d.b) {
		return d.err(ErrMalformed, "no root element")
	}
	d.rootStart = d.pos
	return nil
}

// end reads what may follow the root element: white space, comments and
// processing instructions.
func (d *decoder) end() error {
	if err := d.misc(); err != nil {
		return err
	}
	if d.pos < len(d.b) {
		return d.err(ErrMalformed, "content after the root element")
	}
	return nil
}

// misc skips white space, comments and processing instructions, and stops at
// the end or at a '<' that starts an element.
func (d *decoder) misc() error {
	for {
		d.skipSpace()
		switch {
		case d.pos >= len(d.b):
			return nil
		case d.hasPrefix("<!--"):
			if err := d.comment(); err != nil {
				return err
			}
		case d.hasPrefix("<?"):
			if err := d.pi(); err != nil {
				return err
			}
		case d.hasPrefix("<!"):
			return d.bang()
		case d.b[d.pos] == '<':
			return nil
		default:
			return d.err(ErrMalformed, "text outside the root element (not XML?)")
		}
	}
}

// bang rejects "<!" markup other than comments and CDATA.
func (d *decoder) bang() error {
	if d.hasPrefix("<!DOCTYPE") || d.hasPrefix("<!ENTITY") || d.hasPrefix("<!ATTLIST") ||
		d.hasPrefix("<!ELEMENT") || d.hasPrefix("<!NOTATION") {
		return d.err(ErrForbiddenMarkup, "DOCTYPE and entity declarations are not accepted")
	}
	return d.err(ErrMalformed, "unknown <! markup")
}

func (d *decoder) hasPrefix(p string) bool {
	return len(d.b)-d.pos >= len(p) && string(d.b[d.pos:d.pos+len(p)]) == p
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *decoder) skipSpace() {
	for d.pos < len(d.b) && isSpace(d.b[d.pos]) {
		d.pos++
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// xmlDecl reads <?xml ...?> and refuses encodings other than UTF-8.
func (d *decoder) xmlDecl() error {
	start := d.pos
	end := bytes.Index(d.b[d.pos:], []byte("?>"))
	if end < 0 {
		return d.err(ErrMalformed, "unterminated XML declaration")
	}
	decl := d.b[d.pos+5 : d.pos+end]
	d.pos += end + 2
	if v := trimSpace(decl); !bytes.HasPrefix(v, []byte("version")) || !isVersion10(trimSpace(v[len("version"):])) {
		return d.errAt(ErrMalformed, start, "the XML declaration does not start with version=\"1.0\"")
	}
	if i := bytes.Index(decl, []byte("encoding")); i >= 0 {
		rest := trimSpace(decl[i+len("encoding"):])
		if len(rest) == 0 || rest[0] != '=' {
			return d.errAt(ErrMalformed, start, "bad encoding in the XML declaration")
		}
		rest = trimSpace(rest[1:])
		if len(rest) < 2 || (rest[0] != '"' && rest[0] != '\'') {
			return d.errAt(ErrMalformed, start, "bad encoding in the XML declaration")
		}
		q := bytes.IndexByte(rest[1:], rest[0])
		if q < 0 {
			return d.errAt(ErrMalformed, start, "bad encoding in the XML declaration")
		}
		enc := rest[1 : 1+q]
		if !bytes.EqualFold(enc, []byte("utf-8")) && !bytes.EqualFold(enc, []byte("utf8")) &&
			!bytes.EqualFold(enc, []byte("us-ascii")) {
			return d.errAt(ErrMalformed, start, "the XML declaration names an encoding other than UTF-8")
		}
	}
	return nil
}

// isVersion10 reports whether b is `= "1.0"` (either quote, spaces around =).
func isVersion10(b []byte) bool {
	if len(b) == 0 || b[0] != '=' {
		return false
	}
	b = trimSpace(b[1:])
	return len(b) >= 5 && (b[0] == '"' || b[0] == '\'') && string(b[1:4]) == "1.0" && b[4] == b[0]
}

func (d *decoder) comment() error {
	end := bytes.Index(d.b[d.pos+4:], []byte("-->"))
	if end < 0 {
		return d.err(ErrMalformed, "unterminated comment")
	}
	if body := d.b[d.pos+4 : d.pos+4+end]; bytes.Contains(body, []byte("--")) || bytes.HasSuffix(body, []byte("-")) {
		return d.err(ErrMalformed, "\"--\" inside a comment")
	}
	d.pos += 4 + end + 3
	return nil
}

func (d *decoder) pi() error {
	end := bytes.Index(d.b[d.pos+2:], []byte("?>"))
	if end < 0 {
		return d.err(ErrMalformed, "unterminated processing instruction")
	}
	target := d.b[d.pos+2 : d.pos+2+end]
	if i := bytes.IndexAny(target, " \t\r\n"); i >= 0 {
		target = target[:i]
	}
	if !validName(target) {
		return d.err(ErrMalformed, "processing instruction without a valid target")
	}
	if bytes.EqualFold(target, []byte("xml")) {
		return d.err(ErrMalformed, "misplaced XML declaration")
	}
	d.pos += 2 + end + 2
	return nil
}

// isNameByte reports whether c may be part of an element or attribute name;
// validName then checks the name against XML's rules.
func isNameByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '/', '>', '<', '=', '"', '\'', '?', '!', '&', ';':
		return false
	}
	return true
}

// name reads a name; it returns nil when there is none or it is not a valid
// XML name.
func (d *decoder) name() []byte {
	start := d.pos
	for d.pos < len(d.b) && isNameByte(d.b[d.pos]) {
		d.pos++
	}
	if !validName(d.b[start:d.pos]) {
		return nil
	}
	return d.b[start:d.pos]
}

// startTag reads a start tag at d.pos (which is at '<'). With root set it
// records where the version attribute's value is.
func (d *decoder) startTag(root bool) ([]byte, error) {
	d.tagStart = d.pos
	d.pos++
	name := d.name()
	if len(name) == 0 {
		return nil, d.err(ErrMalformed, "missing or invalid element name")
	}
	attrs := &d.attrs
	n := 0
	for {
		hadSpace := d.pos < len(d.b) && isSpace(d.b[d.pos])
		d.skipSpace()
		if d.pos >= len(d.b) {
			return nil, d.err(ErrMalformed, "unterminated start tag")
		}
		switch c := d.b[d.pos]; {
		case c == '>':
			d.pos++
			d.selfClosing = false
			return name, nil
		case c == '/':
			if !d.hasPrefix("/>") {
				return nil, d.err(ErrMalformed, "stray '/' in a start tag")
			}
			d.pos += 2
			d.selfClosing = true
			return name, nil
		case !hadSpace:
			return nil, d.err(ErrMalformed, "attributes must be separated by white space")
		}
		aname := d.name()
		if len(aname) == 0 {
			return nil, d.err(ErrMalformed, "missing or invalid attribute name")
		}
		for _, prev := range attrs[:n] {
			if bytes.Equal(prev, aname) {
				return nil, d.err(ErrMalformed, "duplicate attribute")
			}
		}
		if n == maxAttrs {
			return nil, d.err(ErrMalformed, "too many attributes")
		}
		attrs[n] = aname
		n++
		d.skipSpace()
		if d.pos >= len(d.b) || d.b[d.pos] != '=' {
			return nil, d.err(ErrMalformed, "attribute without a value")
		}
		d.pos++
		d.skipSpace()
		if d.pos >= len(d.b) || (d.b[d.pos] != '"' && d.b[d.pos] != '\'') {
			return nil, d.err(ErrMalformed, "attribute value not quoted")
		}
		q := d.b[d.pos]
		d.pos++
		if root && string(aname) == "version" {
			d.hasVersion, d.versionAt, d.versionQ = true, d.pos, q
		}
		if _, err := d.text(nil, q, false); err != nil {
			return nil, err
		}
		d.pos++ // the closing quote
	}
}

// appendVersion appends the decoded value of the root's version attribute.
func (d *decoder) appendVersion(dst []byte) []byte {
	if !d.hasVersion {
		return dst
	}
	v := decoder{b: d.b, pos: d.versionAt}
	dst, _ = v.text(dst, d.versionQ, true) // checked by startTag
	return dst
}

// nextChild skips to the next child element or end tag of the current
// element and reads it. It returns the tag's name and whether it is an end
// tag. Text between children is checked and dropped.
func (d *decoder) nextChild() ([]byte, bool, error) {
	for {
		if d.pos >= len(d.b) {
			return nil, false, d.err(ErrMalformed, "unexpected end of the body")
		}
		if d.b[d.pos] != '<' {
			if _, err := d.text(nil, '<', false); err != nil {
				return nil, false, err
			}
			continue
		}
		switch {
		case d.hasPrefix("</"):
			name, err := d.endTag()
			return name, true, err
		case d.hasPrefix("<!--"):
			if err := d.comment(); err != nil {
				return nil, false, err
			}
		case d.hasPrefix("<![CDATA["):
			if _, err := d.cdata(nil, false); err != nil {
				return nil, false, err
			}
		case d.hasPrefix("<?"):
			if err := d.pi(); err != nil {
				return nil, false, err
			}
		case d.hasPrefix("<!"):
			return nil, false, d.bang()
		default:
			name, err := d.startTag(false)
			return name, false, err
		}
	}
}

func (d *decoder) endTag() ([]byte, error) {
	d.tagStart = d.pos
	d.pos += 2
	name := d.name()
	d.skipSpace()
	if d.pos >= len(d.b) || d.b[d.pos] != '>' {
		return nil, d.err(ErrMalformed, "bad end tag")
	}
	d.pos++
	return name, nil
}

// skipElement skips the content of the element just opened (unless it was
// self-closing) up to and including its end tag, checking well-formedness.
func (d *decoder) skipElement(name []byte) error {
	if d.selfClosing {
		return nil
	}
	var stackBuf [8][]byte
	stack := append(stackBuf[:0], name)
	for len(stack) > 0 {
		child, end, err := d.nextChild()
		if err != nil {
			return err
		}
		if end {
			if !bytes.Equal(child, stack[len(stack)-1]) {
				return d.errAt(ErrMalformed, d.tagStart, "mismatched end tag")
			}
			stack = stack[:len(stack)-1]
			continue
		}
		if !d.selfClosing {
			if len(stack) >= maxDepth {
				return d.errAt(ErrMalformed, d.tagStart, "elements nested too deep")
			}
			stack = append(stack, child)
		}
	}
	return nil
}

// content appends the character data of a field element (text and CDATA
// sections; comments and processing instructions dropped) up to its end tag.
// A field holding an element is malformed.
func (d *decoder) content(name []byte, dst []byte) ([]byte, error) {
	if d.selfClosing {
		return dst, nil
	}
	for {
		if d.pos >= len(d.b) {
			return dst, d.err(ErrMalformed, "unexpected end of the body inside <"+string(name)+">")
		}
		var err error
		switch {
		case d.b[d.pos] != '<':
			dst, err = d.text(dst, '<', true)
		case d.hasPrefix("<![CDATA["):
			dst, err = d.cdata(dst, true)
		case d.hasPrefix("</"):
			end, err := d.endTag()
			if err != nil {
				return dst, err
			}
			if !bytes.Equal(end, name) {
				return dst, d.errAt(ErrMalformed, d.tagStart, "mismatched end tag in <"+string(name)+">")
			}
			return dst, nil
		case d.hasPrefix("<!--"):
			err = d.comment()
		case d.hasPrefix("<?"):
			err = d.pi()
		case d.hasPrefix("<!"):
			err = d.bang()
		default:
			err = d.err(ErrMalformed, "an element inside <"+string(name)+">")
		}
		if err != nil {
			return dst, err
		}
	}
}

// cdata reads a CDATA section at d.pos, appending its data with line ends
// normalized when keep is set.
func (d *decoder) cdata(dst []byte, keep bool) ([]byte, error) {
	start := d.pos + len(cdataOpen)
	end := bytes.Index(d.b[start:], []byte(cdataEnd))
	if end < 0 {
		return dst, d.err(ErrMalformed, "unterminated CDATA section")
	}
	d.pos = start + end + len(cdataEnd)
	if keep {
		dst = appendNormalized(dst, d.b[start:start+end])
	}
	return dst, nil
}
