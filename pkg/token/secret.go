package token

import "fmt"

// secretKey holds a secret. It prints as "[REDACTED]" whatever the verb, and
// types hold it by pointer, which fmt prints as an address when it cannot
// call methods (unexported fields): no path through fmt shows the bytes.
type secretKey struct{ b []byte }

func newSecretKey(s string) *secretKey { return &secretKey{b: []byte(s)} }

func (secretKey) String() string   { return "[REDACTED]" }
func (secretKey) GoString() string { return "[REDACTED]" }
func (secretKey) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("[REDACTED]"))
}
