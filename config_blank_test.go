package servicebus

import "testing"

// A secret of blanks is as open to guessing as no secret at all.
func TestBlankSecretTokenIsRefused(t *testing.T) {
	for _, s := range []string{" ", "   ", "\t", "\n"} {
		c := DefaultConfig()
		c.SecretToken = Secret(s)
		if err := c.Validate(); err == nil {
			t.Errorf("secret_token %q: Validate accepted it", s)
		}
		if _, err := c.TokenValidator(); err == nil {
			t.Errorf("secret_token %q: TokenValidator accepted it", s)
		}
	}
}

// docs/security.md: a secret of blanks is refused, from the environment too,
// naming the variable it came from.
func TestBlankSecretTokenFromTheEnvironmentIsRefused(t *testing.T) {
	_, err := LoadConfig("", withEnviron([]string{"SERVICEBUS_SECRET_TOKEN=  \t "}))
	wantAll(t, err, "SERVICEBUS_SECRET_TOKEN: secret_token: is empty or only blanks")
}
