package servicebus

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts the name of every environment variable of a key.
const EnvPrefix = "SERVICEBUS_"

// configField is one leaf key of Config, reached by reflection so that YAML,
// environment, printing and documentation share one list of keys.
type configField struct {
	key    string        // YAML path, "tls.ca_file"
	env    string        // SERVICEBUS_TLS_CA_FILE
	v      reflect.Value // settable
	secret bool
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// configFields lists the leaf keys of *c in declaration order.
func configFields(c *Config) []configField {
	var out []configField
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := prefix + name
			if sf.Type.Kind() == reflect.Struct && sf.Type != durationType {
				walk(v.Field(i), key+".")
				continue
			}
			out = append(out, configField{
				key:    key,
				env:    EnvName(key),
				v:      v.Field(i),
				secret: sf.Type == secretType,
			})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// EnvName is the environment variable of a key: EnvName("tls.ca_file") is
// "SERVICEBUS_TLS_CA_FILE".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// ConfigKey is one key of the config, for documentation and tooling.
type ConfigKey struct {
	Key     string // YAML path, "tls.ca_file"
	Env     string // SERVICEBUS_TLS_CA_FILE
	Default string // the default as it would be written in YAML
}

// ConfigKeys lists every key with its environment variable and default.
func ConfigKeys() []ConfigKey {
	d := DefaultConfig()
	d.NodeName = "(host name)"
	var out []ConfigKey
	for _, f := range configFields(&d) {
		f.secret = false // the defaults of secrets are no secret
		out = append(out, ConfigKey{Key: f.key, Env: f.env, Default: f.show()})
	}
	return out
}

// show is the value for printing; secrets are redacted.
func (f configField) show() string {
	if f.secret {
		if f.v.String() == "" {
			return `""`
		}
		return redacted
	}
	switch f.v.Type() {
	case durationType:
		return time.Duration(f.v.Int()).String()
	}
	switch f.v.Kind() {
	case reflect.Slice:
		return "[" + strings.Join(f.v.Interface().([]string), ",") + "]"
	case reflect.String:
		s := f.v.String()
		if s == "" || strings.ContainsAny(s, " \t\n\"=") {
			return strconv.Quote(s)
		}
		return s
	default:
		return fmt.Sprint(f.v.Interface())
	}
}

// set parses text into the field. Errors never contain a secret's text.
func (f configField) set(text string) error {
	quoted := strconv.Quote(text)
	if f.secret {
		quoted = "the value"
	}
	switch {
	case f.v.Type() == durationType:
		d, err := ParseDuration(text)
		if err != nil {
			return fmt.Errorf("%s is not a duration (\"1.5s\", \"500ms\" or seconds: \"5\")", quoted)
		}
		f.v.SetInt(int64(d))
	case f.v.Kind() == reflect.String:
		f.v.SetString(text)
	case f.v.Kind() == reflect.Bool:
		b, err := parseBool(text)
		if err != nil {
			return fmt.Errorf("%s is not a boolean (true or false)", quoted)
		}
		f.v.SetBool(b)
	case f.v.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			return fmt.Errorf("%s is not an integer", quoted)
		}
		f.v.SetInt(int64(n))
	case f.v.Kind() == reflect.Slice:
		f.v.Set(reflect.ValueOf(splitList(text)))
	default:
		return fmt.Errorf("unsupported key type %s", f.v.Type())
	}
	return nil
}

// splitList splits "a, b:5673,,c" into [a b:5673 c].
func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseDuration reads a duration as the config writes it: a Go duration
// ("1.5s", "500ms", "1m") or a plain number of seconds ("5", "2.5"), as
// py-servicebus wrote its timeouts.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(secs * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "y", "on":
		return true, nil
	case "0", "f", "false", "no", "n", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// ApplyEnv overrides keys from the environment: SERVICEBUS_<KEY> for every
// key (SERVICEBUS_TLS_CA_FILE for tls.ca_file), SERVICEBUS_HOSTS as a comma
// separated list. lookup is os.LookupEnv or a stand-in. A variable that is set
// (even empty) wins over the config. Bad values are reported all at once, each
// naming its variable.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	return c.applyEnv(lookup, nil)
}

// applyEnv is ApplyEnv that records in l where each key came from. The
// variable of a key is found by name: lookup is given f.env.
func (c *Config) applyEnv(lookup func(string) (string, bool), l *layers) error {
	var errs []error
	for _, f := range configFields(c) {
		text, ok := lookup(f.env)
		if !ok {
			continue
		}
		if err := f.set(text); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.env, err))
			l.fail(f.key)
			continue
		}
		l.set(f.key, f.env)
	}
	return errors.Join(errs...)
}

// unmarshalYAMLBytes reads YAML over c, recording in l where each key came
// from (see UnmarshalYAML).
func (c *Config) unmarshalYAMLBytes(data []byte, l *layers) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.unreadable()
		return fmt.Errorf("yaml: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 { // empty file
		return nil
	}
	return c.unmarshalYAML(doc.Content[0], l)
}

// UnmarshalYAML implements yaml.Unmarshaler: keys present replace c's
// values, absent keys keep them. Unknown keys, duplicate keys and values of
// the wrong type are errors, all reported at once with their line.
// LoadConfig reads a file this way.
func (c *Config) UnmarshalYAML(node *yaml.Node) error {
	return c.unmarshalYAML(node, nil)
}

func (c *Config) unmarshalYAML(node *yaml.Node, l *layers) error {
	fields := map[string]configField{}
	sections := map[string]bool{}
	for _, f := range configFields(c) {
		fields[f.key] = f
		if i := strings.LastIndexByte(f.key, '.'); i >= 0 {
			sections[f.key[:i]] = true
		}
	}
	var errs []error
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		where := "the top level"
		if prefix != "" {
			where = strings.TrimSuffix(prefix, ".")
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return // "tls:" with nothing under it
		}
		if n.Kind != yaml.MappingNode {
			errs = append(errs, fmt.Errorf("line %d: %s must be a mapping of keys", n.Line, where))
			l.failSection(prefix)
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			key := prefix + kn.Value
			if seen[key] {
				errs = append(errs, fmt.Errorf("line %d: %s: duplicate key", kn.Line, key))
				continue
			}
			seen[key] = true
			if sections[key] {
				walk(vn, key+".")
				continue
			}
			f, ok := fields[key]
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: unknown key %q", kn.Line, key))
				continue
			}
			if err := f.setNode(vn); err != nil {
				errs = append(errs, fmt.Errorf("line %d: %s: %w", vn.Line, key, err))
				l.fail(key)
				continue
			}
			l.set(key, fmt.Sprintf("line %d", kn.Line))
		}
	}
	walk(node, "")
	return errors.Join(errs...)
}

// setNode sets the field from a YAML value.
func (f configField) setNode(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if f.v.Kind() == reflect.Slice {
		switch n.Kind {
		case yaml.SequenceNode:
			list := make([]string, 0, len(n.Content))
			for _, item := range n.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					return fmt.Errorf("line %d: list items must be strings", item.Line)
				}
				list = append(list, strings.TrimSpace(item.Value))
			}
			f.v.Set(reflect.ValueOf(list))
			return nil
		case yaml.ScalarNode: // one host, or "a, b"
			return f.set(n.Value)
		}
		return errors.New("must be a list of strings")
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a single value, not a list or mapping")
	}
	if n.Tag == "!!null" {
		if f.v.Kind() == reflect.String {
			f.v.SetString("")
			return nil
		}
		return errors.New("has no value")
	}
	return f.set(n.Value)
}
