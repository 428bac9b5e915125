package servicebus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
)

// LoadOption changes how LoadConfig loads.
type LoadOption func(*loadOptions)

type loadOptions struct {
	logger    watermill.LoggerAdapter
	environ   func() []string
	lookup    func(string) (string, bool)
	overrides []override
}

// override is one value given after the environment (a command-line flag).
type override struct{ source, key, value string }

// WithLogger sends LoadConfig's warnings (SERVICEBUS_* variables that name no
// key) to logger, at error level so that a quiet logger still shows them.
// Without it they go to standard error.
func WithLogger(logger watermill.LoggerAdapter) LoadOption {
	return func(o *loadOptions) { o.logger = logger }
}

// WithOverride sets key (a YAML path such as "call_timeout") to value after
// the file and the environment, as a command-line flag does; source names it
// in errors ("--timeout"). The value is read as an environment variable's.
func WithOverride(source, key, value string) LoadOption {
	return func(o *loadOptions) { o.overrides = append(o.overrides, override{source, key, value}) }
}

// stderrWarnings is LoadConfig's logger when none is given: a warning is
// one line on w, "servicebus: warning: ...".
type stderrWarnings struct {
	watermill.NopLogger
	w io.Writer
}

func (s stderrWarnings) Error(msg string, _ error, _ watermill.LogFields) {
	fmt.Fprintf(s.w, "servicebus: warning: %s\n", msg)
}

func (s stderrWarnings) With(watermill.LogFields) watermill.LoggerAdapter { return s }

// LoadConfig reads the YAML file at path over DefaultConfig, applies the
// SERVICEBUS_* environment and any WithOverride values, and validates the
// result. An empty path means defaults and environment only.
//
// The error names every problem of every layer at once: unknown keys, values
// of the wrong type, and invalid settings, each with the line of the file or
// the variable (or override) it came from. SERVICEBUS_* variables that name no
// key are not errors but warnings, logged (see WithLogger) with the nearest
// key suggested.
func LoadConfig(path string, opts ...LoadOption) (Config, error) {
	o := loadOptions{environ: os.Environ, lookup: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = stderrWarnings{w: os.Stderr}
	}
	cfg := DefaultConfig()
	l := &layers{origin: map[string]string{}, failed: map[string]bool{}}
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			l.unreadable()
		} else if err := cfg.unmarshalYAMLBytes(data, l); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cfg.applyEnv(o.lookup, l); err != nil {
		errs = append(errs, err)
	}
	if len(o.overrides) > 0 {
		if err := cfg.applyOverrides(o.overrides, l); err != nil {
			errs = append(errs, err)
		}
	}
	for _, w := range envWarnings(o.environ()) {
		o.logger.Error(w.String(), nil, watermill.LogFields{"variable": w.name, "nearest": w.nearest})
	}
	if !l.broken {
		errs = append(errs, l.annotate(cfg.Validate())...)
	}
	if err := errors.Join(errs...); err != nil {
		if path != "" {
			return Config{}, fmt.Errorf("servicebus: config %s: %w", path, err)
		}
		return Config{}, fmt.Errorf("servicebus: config: %w", err)
	}
	return cfg, nil
}

// applyOverrides sets keys from WithOverride values, each error naming its
// source.
func (c *Config) applyOverrides(ovs []override, l *layers) error {
	fields := map[string]configField{}
	for _, f := range configFields(c) {
		fields[f.key] = f
	}
	var errs []error
	for _, ov := range ovs {
		f, ok := fields[ov.key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key %q", ov.source, ov.key))
			continue
		}
		if err := f.set(ov.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ov.source, err))
			l.fail(ov.key)
			continue
		}
		l.set(ov.key, ov.source)
	}
	return errors.Join(errs...)
}

// keyError is a problem of one key found by Validate; LoadConfig prefixes it
// with where the key's value came from.
type keyError struct {
	key string
	err error // its text starts with the key
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// layers records, while a config loads, where each key's value came from and
// which keys could not be set, so that a validation error names the line or
// variable to fix, and a key whose text did not parse is not reported a
// second time for the default it kept. A nil *layers records nothing.
type layers struct {
	origin map[string]string // key -> "line 4", "SERVICEBUS_PORT", "--port"
	failed map[string]bool
	broken bool // the file could not be read at all: its values are unknown
}

func (l *layers) set(key, origin string) {
	if l != nil {
		l.origin[key] = origin
		delete(l.failed, key)
	}
}

func (l *layers) fail(key string) {
	if l != nil {
		l.failed[key] = true
	}
}

// failSection marks every key under prefix ("tls.") as failed: its mapping
// was not a mapping.
func (l *layers) failSection(prefix string) {
	if l == nil {
		return
	}
	for _, f := range configFields(&Config{}) {
		if strings.HasPrefix(f.key, prefix) {
			l.failed[f.key] = true
		}
	}
}

// unreadable records that the file did not read or parse: validating the
// defaults in its place would report problems the file may not have.
func (l *layers) unreadable() {
	if l != nil {
		l.broken = true
	}
}

// annotate flattens Validate's error into its problems, prefixes each with
// where its key came from, and drops those of keys that failed to parse.
func (l *layers) annotate(err error) []error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		ke, isKey := err.(*keyError)
		switch {
		case err == nil:
		case isKey:
			if l.failed[ke.key] {
				return
			}
			if src := l.origin[ke.key]; src != "" {
				err = fmt.Errorf("%s: %w", src, err)
			}
			out = append(out, err)
		default:
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			out = append(out, err)
		}
	}
	walk(err)
	return out
}
