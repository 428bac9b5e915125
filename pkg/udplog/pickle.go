package udplog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// This file is a pickle reader that only builds plain values: None, bools,
// ints, floats, str, bytes, lists, tuples, sets and dicts. Python's
// logging.handlers.DatagramHandler pickles a dict of such values (protocol
// 1); anything that could name a class or call a function (GLOBAL, REDUCE,
// BUILD, INST, OBJ, NEWOBJ, STACK_GLOBAL, EXT*, PERSID) is rejected. Each
// opcode costs little: values that would be expensive to convert are capped
// (limits.go) and the number of values is bounded.

const (
	pickleMaxDepth = 32    // nesting of containers after decoding
	pickleMaxNodes = 20000 // values visited by checkTree; stops shared-reference blow-ups and cycles
	pickleMaxMemo  = pickleMaxValues
	// pickleMemoGap bounds how far past the highest memo index a PUT may
	// skip: Python numbers its memo entries in order.
	pickleMemoGap = 256
)

// memoUnset fills the memo slots a pickle skipped.
type memoUnset struct{}

// pyList is a mutable list or set while unpickling.
type pyList struct{ items []any }

// pyTuple is an immutable sequence.
type pyTuple []any

// pyDict is a dict while unpickling; keys are turned into strings on insert.
// The map is made at the first insert: an empty dict costs no map.
type pyDict struct{ m map[string]any }

type pickleReader struct {
	b      []byte
	pos    int
	stack  []any
	marks  []int
	memo   []any // by index; memoUnset where never set
	memoN  int   // memo entries set, which MEMOIZE numbers by
	values int   // values pushed so far
	capped bool  // a value was capped (limits.go)
}

// forbiddenOpcodes names the opcodes that reach outside plain values; an
// array, as it is looked up for every opcode.
var forbiddenOpcodes = [256]string{
	'c': "GLOBAL", 'R': "REDUCE", 'b': "BUILD", 'i': "INST", 'o': "OBJ",
	0x81: "NEWOBJ", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 'P': "PERSID", 'Q': "BINPERSID",
	0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// decodePickle reads one pickle holding a dict. The values in it are nil,
// bool, int64, *big.Int, capped, float64, string, []byte, *pyDict, *pyList
// and pyTuple; shared references and cycles are refused by a walk that
// bounds depth and the values visited. capped reports whether a value was
// cut or replaced by a marker.
func decodePickle(b []byte) (d *pyDict, capped bool, err error) {
	r := readers.Get().(*pickleReader)
	defer r.release()
	r.b = b
	v, err := r.run()
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadPickle, err)
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, false, fmt.Errorf("%w: top value is %T, not a dict", ErrBadPickle, v)
	}
	nodes := 0
	if err := checkTree(d, 0, &nodes); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadPickle, err)
	}
	return d, r.capped, nil
}

func (r *pickleReader) run() (any, error) {
	for {
		if r.pos >= len(r.b) {
			return nil, fmt.Errorf("truncated: no STOP")
		}
		if r.values > pickleMaxValues {
			return nil, fmt.Errorf("more than %d values", pickleMaxValues)
		}
		op := r.b[r.pos]
		r.pos++
		if name := forbiddenOpcodes[op]; name != "" {
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
			if err := r.put(uint32(r.memoN), v); err != nil {
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
			switch string(line) {
			case "00":
				r.push(false)
			case "01":
				r.push(true)
			default:
				v, err := r.textInt(line)
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
			v, err := r.textInt(bytes.TrimSuffix(line, []byte("L")))
			if err != nil {
				return nil, err
			}
			r.push(v)
		case 'F': // FLOAT, text
			line, err := r.line()
			if err != nil {
				return nil, err
			}
			if len(line) > maxFloatText {
				return nil, fmt.Errorf("FLOAT of %d bytes", len(line))
			}
			f, err := strconv.ParseFloat(string(line), 64)
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
			if len(p) > maxIntBytes {
				r.capped = true
				r.push(capped{"int", len(p)})
				continue
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
			r.push(r.text(p))
		case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
			p, err := r.sized(op)
			if err != nil {
				return nil, err
			}
			if len(p) > maxStrBytes {
				r.capped = true
				r.push(capped{"bytes", len(p)})
				continue
			}
			r.push(append([]byte(nil), p...))
		case '}':
			r.push(&pyDict{})
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
				d := &pyDict{}
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
			if idx >= uint32(len(r.memo)) {
				return nil, fmt.Errorf("memo %d not set", idx)
			}
			v := r.memo[idx]
			if _, unset := v.(memoUnset); unset {
				return nil, fmt.Errorf("memo %d not set", idx)
			}
			r.push(v)
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x at %d", op, r.pos-1)
		}
	}
}
