package servicebus

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Secret is a string that is never printed: fmt (every verb), JSON, YAML,
// text and slog all show "[REDACTED]" (or "" when it is empty). Use
// string(s) where the value itself is needed.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String is "[REDACTED]", or "" for an empty secret.
func (s Secret) String() string { return s.shown() }

// GoString is the quoted String.
func (s Secret) GoString() string { return strconv.Quote(s.shown()) }

// Format makes every fmt verb print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		fmt.Fprint(f, strconv.Quote(s.shown()))
		return
	}
	fmt.Fprint(f, s.shown())
}

// MarshalText redacts (used by JSON map keys, YAML and other encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

// MarshalJSON redacts.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.shown()) }

// MarshalYAML redacts.
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// LogValue redacts for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// redactedCopy has its secrets and any credentials inside host URLs replaced.
func (c Config) redactedCopy() Config {
	c.Password = Secret(c.Password.shown())
	c.SecretToken = Secret(c.SecretToken.shown())
	if len(c.Hosts) > 0 {
		hosts := make([]string, len(c.Hosts))
		for i, h := range c.Hosts {
			hosts[i] = redactHost(h)
		}
		c.Hosts = hosts
	}
	return c
}

// redactHost hides user info in a host written as a URL (which Validate rejects,
// but a config is printed before it is validated too).
func redactHost(h string) string {
	at := strings.LastIndexByte(h, '@')
	if at < 0 {
		return h
	}
	start := 0
	if i := strings.Index(h, "://"); i >= 0 && i < at {
		start = i + 3
	}
	return h[:start] + redacted + h[at:]
}

// String is the config on one line, key=value, secrets redacted.
func (c Config) String() string {
	r := c.redactedCopy()
	var b strings.Builder
	b.WriteString("servicebus.Config{")
	for i, f := range configFields(&r) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f.key)
		b.WriteByte('=')
		b.WriteString(f.show())
	}
	b.WriteByte('}')
	return b.String()
}

// configPlain has Config's fields and none of its methods, for %#v.
type configPlain Config

// GoString is Go syntax with secrets redacted.
func (c Config) GoString() string {
	s := fmt.Sprintf("%#v", configPlain(c.redactedCopy()))
	return strings.Replace(s, "servicebus.configPlain{", "servicebus.Config{", 1)
}

// Format makes every fmt verb redact secrets: %#v is GoString, the rest String.
func (c Config) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, c.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(c.String()))
	default:
		fmt.Fprint(f, c.String())
	}
}

// LogValue redacts for log/slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON is the config with secrets redacted.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(configPlain(c.redactedCopy())) }

// MarshalYAML is the config with secrets redacted; durations are written as
// Go duration strings, which LoadConfig reads back.
func (c Config) MarshalYAML() (any, error) { return configPlain(c.redactedCopy()), nil }

// blank reports a secret that is empty or only white space: as open to
// guessing as no secret at all.
func (s Secret) blank() bool { return strings.TrimSpace(string(s)) == "" }
