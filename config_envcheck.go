package servicebus

import (
	"fmt"
	"sort"
	"strings"
)

// toolVariables are SERVICEBUS_* variables of this project's tools that are
// not config keys; they are never warned about. A test keeps the list in step
// with the repository.
var toolVariables = map[string]bool{
	"SERVICEBUS_CONFIG":            true, // the CLI's --config default
	"SERVICEBUS_TEST_URL":          true, // tests, make, the bench
	"SERVICEBUS_RABBITMQ_BIN":      true, // scripts/rabbitmq.sh, internal/brokertest
	"SERVICEBUS_RABBIT_DIR":        true,
	"SERVICEBUS_RABBIT_WAIT":       true,
	"SERVICEBUS_RABBIT_CONF_EXTRA": true,
	"SERVICEBUS_KEEP_NODES":        true,
	"SERVICEBUS_LOGD_HELPER_ARGS":  true, // a helper process of the CLI's tests
}

// envWarning is a SERVICEBUS_* variable that names no key.
type envWarning struct {
	name    string
	nearest string // the variable of the closest key
}

func (w envWarning) String() string {
	return fmt.Sprintf("environment variable %s is not a servicebus setting and is ignored (nearest: %s)", w.name, w.nearest)
}

// envWarnings lists the SERVICEBUS_* variables of environ (KEY=VALUE) that
// are neither a key's variable nor one of the tools', sorted by name.
func envWarnings(environ []string) []envWarning {
	known := map[string]bool{}
	var names []string
	for _, k := range ConfigKeys() {
		known[k.Env] = true
		names = append(names, k.Env)
	}
	var out []envWarning
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || toolVariables[name] {
			continue
		}
		out = append(out, envWarning{name: name, nearest: nearest(name, names)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// nearest is the candidate closest to name, compared without case
// (SERVICEBUS_port would be one edit per letter from SERVICEBUS_PORT): a
// candidate that name starts, or that starts name, wins (a variable named
// after secret is nearest secret_token's), the one nearest in length first; otherwise the
// smallest edit distance. The first in order wins a tie.
func nearest(name string, candidates []string) string {
	name = strings.ToUpper(name)
	best, bestD := "", -1
	for _, c := range candidates {
		if strings.HasPrefix(c, name) || strings.HasPrefix(name, c) {
			if d := abs(len(c) - len(name)); bestD < 0 || d < bestD {
				best, bestD = c, d
			}
		}
	}
	if best != "" {
		return best
	}
	for _, c := range candidates {
		if d := editDistance(name, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
