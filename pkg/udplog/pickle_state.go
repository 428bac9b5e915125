package udplog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The pickle reader's state: opcode arguments, the stack with its marks,
// and the memo.

// readers keeps pickle readers with their stack and memo, so that a flood
// of datagrams pushing thousands of values does not grow them anew each time.
var readers = sync.Pool{New: func() any { return &pickleReader{stack: make([]any, 0, 32)} }}

// release drops every reference the reader holds and pools it.
func (r *pickleReader) release() {
	clear(r.stack[:min(r.values, cap(r.stack))]) // the stack never held more
	clear(r.memo)
	*r = pickleReader{stack: r.stack[:0], marks: r.marks[:0], memo: r.memo[:0]}
	readers.Put(r)
}

func (r *pickleReader) n(k int) ([]byte, error) { return r.nu(uint64(k)) }

func (r *pickleReader) nu(k uint64) ([]byte, error) {
	if k > uint64(len(r.b)-r.pos) {
		return nil, fmt.Errorf("truncated at %d", r.pos)
	}
	p := r.b[r.pos : r.pos+int(k)]
	r.pos += int(k)
	return p, nil
}

// line reads the text argument of an opcode, up to its newline.
func (r *pickleReader) line() ([]byte, error) {
	i := bytes.IndexByte(r.b[r.pos:], '\n')
	if i < 0 {
		return nil, fmt.Errorf("unterminated line at %d", r.pos)
	}
	p := r.b[r.pos : r.pos+i]
	r.pos += i + 1
	return p, nil
}

// textInt is an integer pickled as text; a long one is capped unconverted.
func (r *pickleReader) textInt(p []byte) (any, error) {
	if len(p) > maxIntDigits {
		r.capped = true
		return capped{"int", len(p)}, nil
	}
	return parseBigInt(string(p))
}

// text is a pickled str: invalid UTF-8 becomes U+FFFD, and a string longer
// than maxStrBytes is cut and ends with "…".
func (r *pickleReader) text(p []byte) string {
	cut := len(p) > maxStrBytes
	if cut {
		r.capped = true
		p = cutUTF8(p, maxStrBytes)
	}
	s := string(p)
	if !utf8.Valid(p) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if cut {
		s += "…"
	}
	return s
}

// sized reads the length-prefixed payload of a string or bytes opcode.
func (r *pickleReader) sized(op byte) ([]byte, error) {
	var size uint64
	switch op {
	case 'C', 'U', 0x8c:
		p, err := r.n(1)
		if err != nil {
			return nil, err
		}
		size = uint64(p[0])
	case 'X', 'B', 'T':
		p, err := r.n(4)
		if err != nil {
			return nil, err
		}
		s := binary.LittleEndian.Uint32(p)
		if op == 'T' && int32(s) < 0 {
			return nil, fmt.Errorf("BINSTRING negative size")
		}
		size = uint64(s)
	default: // 8-byte sizes
		p, err := r.n(8)
		if err != nil {
			return nil, err
		}
		size = binary.LittleEndian.Uint64(p)
	}
	return r.nu(size)
}

func (r *pickleReader) memoIndex(op byte) (uint32, error) {
	switch op {
	case 'p', 'g':
		line, err := r.line()
		if err != nil {
			return 0, err
		}
		if len(line) > 10 {
			return 0, fmt.Errorf("memo index of %d bytes", len(line))
		}
		n, err := strconv.ParseUint(string(line), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("memo index %q", line)
		}
		return uint32(n), nil
	case 'q', 'h':
		p, err := r.n(1)
		if err != nil {
			return 0, err
		}
		return uint32(p[0]), nil
	default:
		p, err := r.n(4)
		if err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint32(p), nil
	}
}

func (r *pickleReader) put(idx uint32, v any) error {
	if idx >= pickleMaxMemo || idx > uint32(len(r.memo))+pickleMemoGap {
		return fmt.Errorf("memo index %d out of bounds", idx)
	}
	for uint32(len(r.memo)) <= idx {
		r.memo = append(r.memo, memoUnset{})
	}
	if _, unset := r.memo[idx].(memoUnset); unset {
		r.memoN++
	}
	r.memo[idx] = v
	return nil
}

// push counts the value against pickleMaxValues; past it the pickle is refused.
func (r *pickleReader) push(v any) {
	r.values++
	r.stack = append(r.stack, v)
}

// floor is the lowest stack index the current mark lets an opcode pop.
func (r *pickleReader) floor() int {
	if len(r.marks) == 0 {
		return 0
	}
	return r.marks[len(r.marks)-1]
}

func (r *pickleReader) top() (any, error) {
	if len(r.stack) <= r.floor() {
		return nil, fmt.Errorf("stack underflow at %d", r.pos-1)
	}
	return r.stack[len(r.stack)-1], nil
}

func (r *pickleReader) pop() (any, error) {
	v, err := r.top()
	if err != nil {
		return nil, err
	}
	r.stack = r.stack[:len(r.stack)-1]
	return v, nil
}

func (r *pickleReader) popMark() ([]any, error) {
	if len(r.marks) == 0 {
		return nil, fmt.Errorf("no MARK at %d", r.pos-1)
	}
	m := r.marks[len(r.marks)-1]
	r.marks = r.marks[:len(r.marks)-1]
	items := append([]any(nil), r.stack[m:]...)
	r.stack = r.stack[:m]
	return items, nil
}

func (r *pickleReader) topList() (*pyList, error) {
	v, err := r.top()
	if err != nil {
		return nil, err
	}
	l, ok := v.(*pyList)
	if !ok {
		return nil, fmt.Errorf("append to %T", v)
	}
	return l, nil
}

func (r *pickleReader) topDict() (*pyDict, error) {
	v, err := r.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("setitem on %T", v)
	}
	return d, nil
}
