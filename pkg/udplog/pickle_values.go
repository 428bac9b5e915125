package udplog

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The values a pickle builds: dict keys, integers, and the walk that
// bounds what a pickle may share or nest.

func (d *pyDict) setPairs(items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of dict items")
	}
	if d.m == nil {
		d.m = make(map[string]any, len(items)/2)
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
		return k.String(), nil // at most maxIntBytes long
	case capped:
		return k.String(), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	case []byte:
		return strings.ToValidUTF8(string(k), "\uFFFD"), nil
	default:
		return "", fmt.Errorf("dict key of type %T", k)
	}
}

// parseBigInt reads a text integer of at most maxIntDigits.
func parseBigInt(s string) (any, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad integer %q", s)
	}
	return b, nil
}

// decodeLong reads a little-endian two's-complement integer (LONG1/LONG4)
// of at most maxIntBytes.
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

// checkTree walks what a pickle built before anything renders it, counting
// every visit: shared references and cycles would otherwise expand without
// bound (a list holding itself twice, 30 times over, is 2^30 values).
func checkTree(v any, depth int, nodes *int) error {
	*nodes++
	if *nodes > pickleMaxNodes {
		return fmt.Errorf("more than %d values", pickleMaxNodes)
	}
	if depth > pickleMaxDepth {
		return fmt.Errorf("nested deeper than %d", pickleMaxDepth)
	}
	var items []any
	switch v := v.(type) {
	case *pyDict:
		if len(v.m) == 0 {
			return nil // ranging over even an empty map costs
		}
		for _, e := range v.m {
			if err := checkTree(e, depth+1, nodes); err != nil {
				return err
			}
		}
		return nil
	case *pyList:
		items = v.items
	case pyTuple:
		items = v
	default:
		return nil
	}
	for _, e := range items {
		if err := checkTree(e, depth+1, nodes); err != nil {
			return err
		}
	}
	return nil
}
