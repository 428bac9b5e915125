package udplog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is a pickle reader that only builds plain values: None, bools,
// ints, floats, str, bytes, lists, tuples, sets and dicts. Python's
// logging.handlers.DatagramHandler pickles a dict of such values (protocol
// 1); anything that could name a class or call a function (GLOBAL, REDUCE,
// BUILD, INST, OBJ, NEWOBJ, STACK_GLOBAL, EXT*, PERSID) is rejected.

const (
	pickleMaxDepth = 32    // nesting of containers after decoding
	pickleMaxNodes = 20000 // values visited when converting; stops shared-reference blow-ups and cycles
	pickleMaxMemo  = 1 << 16
)

// pyList is a mutable list or set while unpickling.
type pyList struct{ items []any }

// pyTuple is an immutable sequence.
type pyTuple []any

// pyDict is a dict while unpickling; keys are turned into strings on insert.
type pyDict struct{ m map[string]any }

type pickleReader struct {
	b     []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
}

// forbiddenOpcodes names the opcodes that reach outside plain values.
var forbiddenOpcodes = map[byte]string{
	'c': "GLOBAL", 'R': "REDUCE", 'b': "BUILD", 'i': "INST", 'o': "OBJ",
	0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 'P': "PERSID", 'Q': "BINPERSID",
	0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// decodePickle reads one pickle holding a dict and returns it with plain Go
// values: map[string]any, []any, string, []byte, int64, *big.Int, float64,
// bool and nil.
func decodePickle(b []byte) (map[string]any, error) {
	r := &pickleReader{b: b, memo: map[uint32]any{}}
	v, err := r.run()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPickle, err)
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%w: top value is %T, not a dict", ErrBadPickle, v)
	}
	nodes := 0
	out, err := plain(d, 0, &nodes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPickle, err)
	}
	return out.(map[string]any), nil
}

func (r *pickleReader) run() (any, error) {
	for {
		if r.pos >= len(r.b) {
			return nil, fmt.Errorf("truncated: no STOP")
		}
		op := r.b[r.pos]
		r.pos++
		if name, bad := forbiddenOpcodes[op]; bad {
			return nil, fmt.Errorf("forbidden opcode %s at %d", name, r.pos-1)
		}
		switch op {
		case '.': // STOP
			if len(r.stack) != 1 || len(r.marks) != 0 {
				return nil, fmt.Errorf("STOP with %d values and %d marks on the stack", len(r.stack), len(r.marks))
			}
			if r.pos != len(r.b) {
				return nil, fmt.Errorf("%d bytes after STOP", len(r.b)-r.pos)
			}
			return r.stack[0], nil
		case 0x80: // PROTO
			p, err := r.n(1)
			if err != nil {
				return nil, err
			}
			if p[0] > 5 {
				return nil, fmt.Errorf("unsupported protocol %d", p[0])
			}
		case 0x95: // FRAME: framing only, the payload follows inline
			if _, err := r.n(8); err != nil {
				return nil, err
			}
		case 0x94: // MEMOIZE
			v, err := r.top()
			if err != nil {
				return nil, err
			}
			if err := r.put(uint32(len(r.memo)), v); err != nil {
				return nil, err
			}
		case '(': // MARK
			r.marks = append(r.marks, len(r.stack))
		case 'N':
			r.push(nil)
		case 0x88:
			r.push(true)
		case 0x89:
			r.push(false)
		case 'I': // INT, text
			line, err := r.line()
			if err != nil {
				return nil, err
			}
			switch line {
			case "00":
				r.push(false)
			case "01":
				r.push(true)
			default:
				v, err := parseBigInt(line)
				if err != nil {
					return nil, err
				}
				r.push(v)
			}
		case 'L': // LONG, text
			line, err := r.line()
			if err != nil {
				return nil, err
			}
			v, err := parseBigInt(strings.TrimSuffix(line, "L"))
			if err != nil {
				return nil, err
			}
			r.push(v)
		case 'F': // FLOAT, text
			line, err := r.line()
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(line, 64)
			if err != nil {
				return nil, fmt.Errorf("FLOAT %q", line)
			}
			r.push(f)
		case 'J': // BININT
			p, err := r.n(4)
			if err != nil {
				return nil, err
			}
			r.push(int64(int32(binary.LittleEndian.Uint32(p))))
		case 'K': // BININT1
			p, err := r.n(1)
			if err != nil {
				return nil, err
			}
			r.push(int64(p[0]))
		case 'M': // BININT2
			p, err := r.n(2)
			if err != nil {
				return nil, err
			}
			r.push(int64(binary.LittleEndian.Uint16(p)))
		case 0x8a, 0x8b: // LONG1, LONG4
			var size uint64
			if op == 0x8a {
				p, err := r.n(1)
				if err != nil {
					return nil, err
				}
				size = uint64(p[0])
			} else {
				p, err := r.n(4)
				if err != nil {
					return nil, err
				}
				s := int32(binary.LittleEndian.Uint32(p))
				if s < 0 {
					return nil, fmt.Errorf("LONG4 negative size")
				}
				size = uint64(s)
			}
			p, err := r.nu(size)
			if err != nil {
				return nil, err
			}
			r.push(decodeLong(p))
		case 'G': // BINFLOAT
			p, err := r.n(8)
			if err != nil {
				return nil, err
			}
			r.push(math.Float64frombits(binary.BigEndian.Uint64(p)))
		case 'X', 0x8c, 0x8d, 'T', 'U': // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING
			p, err := r.sized(op)
			if err != nil {
				return nil, err
			}
			r.push(strings.ToValidUTF8(string(p), "\uFFFD"))
		case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
			p, err := r.sized(op)
			if err != nil {
				return nil, err
			}
			r.push(append([]byte(nil), p...))
		case '}':
			r.push(&pyDict{m: map[string]any{}})
		case ']', 0x8f: // EMPTY_LIST, EMPTY_SET
			r.push(&pyList{})
		case ')':
			r.push(pyTuple{})
		case 'd', 'l', 't', 0x91: // DICT, LIST, TUPLE, FROZENSET
			items, err := r.popMark()
			if err != nil {
				return nil, err
			}
			switch op {
			case 'd':
				d := &pyDict{m: map[string]any{}}
				if err := d.setPairs(items); err != nil {
					return nil, err
				}
				r.push(d)
			case 'l':
				r.push(&pyList{items: items})
			default:
				r.push(pyTuple(items))
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			k := int(op-0x85) + 1
			if len(r.stack)-k < r.floor() {
				return nil, fmt.Errorf("TUPLE%d: stack underflow", k)
			}
			t := append(pyTuple(nil), r.stack[len(r.stack)-k:]...)
			r.stack = r.stack[:len(r.stack)-k]
			r.push(t)
		case 'a': // APPEND
			v, err := r.pop()
			if err != nil {
				return nil, err
			}
			l, err := r.topList()
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, v)
		case 'e', 0x90: // APPENDS, ADDITEMS
			items, err := r.popMark()
			if err != nil {
				return nil, err
			}
			l, err := r.topList()
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, items...)
		case 's': // SETITEM
			v, err := r.pop()
			if err != nil {
				return nil, err
			}
			k, err := r.pop()
			if err != nil {
				return nil, err
			}
			d, err := r.topDict()
			if err != nil {
				return nil, err
			}
			if err := d.setPairs([]any{k, v}); err != nil {
				return nil, err
			}
		case 'u': // SETITEMS
			items, err := r.popMark()
			if err != nil {
				return nil, err
			}
			d, err := r.topDict()
			if err != nil {
				return nil, err
			}
			if err := d.setPairs(items); err != nil {
				return nil, err
			}
		case '0': // POP
			if len(r.marks) > 0 && r.marks[len(r.marks)-1] == len(r.stack) {
				r.marks = r.marks[:len(r.marks)-1]
			} else if _, err := r.pop(); err != nil {
				return nil, err
			}
		case '1': // POP_MARK
			if _, err := r.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			v, err := r.top()
			if err != nil {
				return nil, err
			}
			r.push(v)
		case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
			idx, err := r.memoIndex(op)
			if err != nil {
				return nil, err
			}
			v, err := r.top()
			if err != nil {
				return nil, err
			}
			if err := r.put(idx, v); err != nil {
				return nil, err
			}
		case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
			idx, err := r.memoIndex(op)
			if err != nil {
				return nil, err
			}
			v, ok := r.memo[idx]
			if !ok {
				return nil, fmt.Errorf("memo %d not set", idx)
			}
			r.push(v)
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x at %d", op, r.pos-1)
		}
	}
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

func (r *pickleReader) line() (string, error) {
	i := bytes.IndexByte(r.b[r.pos:], '\n')
	if i < 0 {
		return "", fmt.Errorf("unterminated line at %d", r.pos)
	}
	s := string(r.b[r.pos : r.pos+i])
	r.pos += i + 1
	return s, nil
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
		n, err := strconv.ParseUint(line, 10, 32)
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
	if _, ok := r.memo[idx]; !ok && len(r.memo) >= pickleMaxMemo {
		return fmt.Errorf("memo too large")
	}
	r.memo[idx] = v
	return nil
}

func (r *pickleReader) push(v any) { r.stack = append(r.stack, v) }

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
