package udplog

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The values a pickle builds, and their conversion to plain Go values.

func (d *pyDict) setPairs(items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		k, err := dictKey(items[i])
		if err != nil {
			return err
		}
		d.m[k] = items[i+1]
	}
	return nil
}

// dictKey turns a hashable scalar into a string key, as JSON needs.
func dictKey(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case nil:
		return "None", nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case *big.Int:
		return k.String(), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	case []byte:
		return strings.ToValidUTF8(string(k), "\uFFFD"), nil
	default:
		return "", fmt.Errorf("dict key of type %T", k)
	}
}

func parseBigInt(s string) (any, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || len(s) > 4300 {
		return nil, fmt.Errorf("bad integer %q", s)
	}
	return b, nil
}

// decodeLong reads a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(p []byte) any {
	if len(p) == 0 {
		return int64(0)
	}
	be := make([]byte, len(p))
	for i, c := range p {
		be[len(p)-1-i] = c
	}
	n := new(big.Int).SetBytes(be)
	if p[len(p)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(p))))
	}
	if n.IsInt64() {
		return n.Int64()
	}
	return n
}

// plain converts unpickled values into plain Go values, bounding depth and
// the number of visited values (a pickle can share and cycle references).
func plain(v any, depth int, nodes *int) (any, error) {
	*nodes++
	if *nodes > pickleMaxNodes {
		return nil, fmt.Errorf("more than %d values", pickleMaxNodes)
	}
	if depth > pickleMaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", pickleMaxDepth)
	}
	switch v := v.(type) {
	case *pyDict:
		m := make(map[string]any, len(v.m))
		for k, e := range v.m {
			p, err := plain(e, depth+1, nodes)
			if err != nil {
				return nil, err
			}
			m[k] = p
		}
		return m, nil
	case *pyList:
		return plainSeq(v.items, depth, nodes)
	case pyTuple:
		return plainSeq(v, depth, nodes)
	case []byte:
		if utf8.Valid(v) {
			return string(v), nil
		}
		return v, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return strconv.FormatFloat(v, 'g', -1, 64), nil // JSON has no NaN or Inf
		}
		return v, nil
	default:
		return v, nil
	}
}

func plainSeq(items []any, depth int, nodes *int) (any, error) {
	out := make([]any, len(items))
	for i, e := range items {
		p, err := plain(e, depth+1, nodes)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
