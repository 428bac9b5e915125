package rpc

import (
	"fmt"
	"strings"
)

// Target is a parsed NODE.CATEGORY.NAME address.
type Target struct {
	Node     string // may contain dots (host-style node names)
	Category string
	Name     string
}

func (t Target) String() string { return t.Node + "." + t.Category + "." + t.Name }

// spanName is op followed by t, in one concatenation: op + t.String() would
// make two strings for every recorded span.
func (t Target) spanName(op string) string { return op + t.Node + "." + t.Category + "." + t.Name }

// ParseTarget splits target into node, category and name: the last two
// dot-separated parts are category and name, everything before is the node.
func ParseTarget(target string) (Target, error) {
	j := strings.LastIndexByte(target, '.')
	if j <= 0 {
		return Target{}, fmt.Errorf("%w %q: want NODE.CATEGORY.NAME", ErrBadTarget, target)
	}
	i := strings.LastIndexByte(target[:j], '.')
	if i <= 0 {
		return Target{}, fmt.Errorf("%w %q: want NODE.CATEGORY.NAME", ErrBadTarget, target)
	}
	t := Target{Node: target[:i], Category: target[i+1 : j], Name: target[j+1:]}
	if err := checkNode(t.Node); err != nil {
		return Target{}, fmt.Errorf("%w %q: %w", ErrBadTarget, target, err)
	}
	if t.Category == "" || t.Name == "" {
		return Target{}, fmt.Errorf("%w %q: empty category or name", ErrBadTarget, target)
	}
	return t, nil
}

// checkNode rejects node names that cannot be an AMQP routing key or that
// are surely a typo.
func checkNode(node string) error {
	switch {
	case node == "":
		return fmt.Errorf("empty node")
	case len(node) > 255:
		return fmt.Errorf("node longer than 255 bytes")
	case strings.HasPrefix(node, ".") || strings.HasSuffix(node, ".") || strings.Contains(node, ".."):
		return fmt.Errorf("empty part in node %q", node)
	case strings.TrimSpace(node) != node:
		return fmt.Errorf("node %q has surrounding spaces", node)
	}
	return nil
}
