package servicebus

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
)

// withEnviron makes LoadConfig read env instead of the process environment
// (KEY=VALUE entries).
func withEnviron(env []string) LoadOption {
	return func(o *loadOptions) {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		o.environ = func() []string { return env }
		o.lookup = func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
}

// writeConfig writes doc to a YAML file of the test and returns its path.
func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantAll(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error naming %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// Unknown keys, type errors and invalid values of one file come in one error,
// each with its line.
func TestLoadConfigReportsFileProblemsOfEveryKindAtOnce(t *testing.T) {
	path := writeConfig(t, "secret_token: s\nhostz: [typo]\nconcurrency: many\nport: 70000\ntopology: fancy\n")
	_, err := LoadConfig(path, withEnviron(nil))
	wantAll(t, err,
		path,
		`line 2: unknown key "hostz"`,
		`line 3: concurrency: "many" is not an integer`,
		`line 4: port: 70000 is not a TCP port (1-65535)`,
		`line 5: topology: "fancy" is not one of compat, durable`,
	)
}

// The example: three bad variables, all three named.
func TestLoadConfigNamesEveryBadVariable(t *testing.T) {
	_, err := LoadConfig("", withEnviron([]string{
		"SERVICEBUS_SECRET_TOKEN=s",
		"SERVICEBUS_CONCURRENCY=abc",
		"SERVICEBUS_PORT=-1",
		"SERVICEBUS_TOPOLOGY=fancy",
	}))
	wantAll(t, err,
		`SERVICEBUS_CONCURRENCY: "abc" is not an integer`,
		`SERVICEBUS_PORT: port: -1 is not a TCP port`,
		`SERVICEBUS_TOPOLOGY: topology: "fancy" is not one of`,
	)
}

// The file and the environment are checked together, and a value is blamed on
// the layer it came from.
func TestLoadConfigReportsFileAndEnvironmentTogether(t *testing.T) {
	path := writeConfig(t, "secret_token: s\nbogus: 1\nconcurrency: 0\nport: 1\n")
	_, err := LoadConfig(path, withEnviron([]string{"SERVICEBUS_USE_SSL=maybe", "SERVICEBUS_PORT=0"}))
	wantAll(t, err,
		`line 2: unknown key "bogus"`,
		`line 3: concurrency: 0 must be at least 1`,
		`SERVICEBUS_USE_SSL: "maybe" is not a boolean`,
		`SERVICEBUS_PORT: port: 0 is not a TCP port`, // the variable won over line 4
	)
	if strings.Contains(err.Error(), "line 4") {
		t.Errorf("port blamed on the file it did not come from:\n%v", err)
	}
}

// A key whose text did not parse keeps its default; that default is not
// reported as a second problem of the same key.
func TestLoadConfigDoesNotReportAFailedKeyTwice(t *testing.T) {
	path := writeConfig(t, "secret_token: [not, a, string]\ntls: [1]\n")
	_, err := LoadConfig(path, withEnviron(nil))
	wantAll(t, err, "line 1: secret_token: must be a single value", "line 2: tls must be a mapping")
	if strings.Contains(err.Error(), "is empty") {
		t.Errorf("the failed secret_token is also reported empty:\n%v", err)
	}
}

// A file that is not YAML at all says so, without validating the defaults
// in its place; the environment is still checked.
func TestLoadConfigUnparsableFileIsNotValidatedAsDefaults(t *testing.T) {
	path := writeConfig(t, "secret_token: s\n  : [\n")
	_, err := LoadConfig(path, withEnviron([]string{"SERVICEBUS_PORT=x"}))
	wantAll(t, err, "yaml:", `SERVICEBUS_PORT: "x" is not an integer`)
	if strings.Contains(err.Error(), "secret_token") {
		t.Errorf("defaults validated in place of the unreadable file:\n%v", err)
	}
	_, err = LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"), withEnviron(nil))
	if !errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "secret_token") {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadConfigOverridesNameTheirSource(t *testing.T) {
	cfg, err := LoadConfig("", withEnviron([]string{"SERVICEBUS_SECRET_TOKEN=s", "SERVICEBUS_CALL_TIMEOUT=9"}),
		WithOverride("--timeout", "call_timeout", "2.5"))
	if err != nil || cfg.CallTimeout != 2500*time.Millisecond {
		t.Fatalf("override: %v, call_timeout %v", err, cfg.CallTimeout)
	}
	_, err = LoadConfig("", withEnviron([]string{"SERVICEBUS_SECRET_TOKEN=s"}),
		WithOverride("--timeout", "call_timeout", "soon"), WithOverride("--port", "port", "0"))
	wantAll(t, err, `--timeout: "soon" is not a duration`, "--port: port: 0 is not a TCP port")
}

// heartbeat_interval is whole seconds, as the README says: amqp091-go
// divides it by time.Second and drops the rest without a word.
func TestHeartbeatIntervalIsWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		text string
		ok   bool
	}{{"1.5s", false}, {"1.5", false}, {"1500ms", false}, {"2", true}, {"2s", true}, {"1m", true}, {"0.5", false}} {
		_, err := LoadConfig("", withEnviron([]string{"SERVICEBUS_SECRET_TOKEN=s", "SERVICEBUS_HEARTBEAT_INTERVAL=" + tc.text}))
		if (err == nil) != tc.ok {
			t.Errorf("heartbeat_interval %s: err = %v, want ok=%v", tc.text, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "SERVICEBUS_HEARTBEAT_INTERVAL: heartbeat_interval:") {
			t.Errorf("heartbeat_interval %s: error does not name the key: %v", tc.text, err)
		}
	}
	path := writeConfig(t, "secret_token: s\nheartbeat_interval: 1.5s\n")
	_, err := LoadConfig(path, withEnviron(nil))
	wantAll(t, err, "line 2: heartbeat_interval: 1.5s is not a whole number of seconds")
}

// A SERVICEBUS_* variable that names no key is a warning with the nearest key,
// logged at error level (a quiet logger shows it); the config still loads.
func TestLoadConfigWarnsAboutUnknownVariables(t *testing.T) {
	log := watermill.NewCaptureLogger()
	cfg, err := LoadConfig("", WithLogger(log), withEnviron([]string{
		"SERVICEBUS_SECRET_TOKEN=s",
		"SERVICEBUS_FOO=1",
		"SERVICEBUS_HEARTBEAT=5",
		"SERVICEBUS_node_name=x",
		"SERVICEBUS_TEST_URL=amqp://h/", // a tool's, not a typo
		"SERVICEBUS_CONFIG=c.yaml",
		"OTHER_PORT=1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HeartbeatInterval != DefaultHeartbeatInterval {
		t.Errorf("a misspelt variable changed the config: %v", cfg.HeartbeatInterval)
	}
	var got []string
	for _, m := range log.Captured()[watermill.ErrorLogLevel] {
		got = append(got, m.Msg)
	}
	want := []string{
		"environment variable SERVICEBUS_FOO is not a servicebus setting and is ignored (nearest: SERVICEBUS_PORT)",
		"environment variable SERVICEBUS_HEARTBEAT is not a servicebus setting and is ignored (nearest: SERVICEBUS_HEARTBEAT_INTERVAL)",
		"environment variable SERVICEBUS_node_name is not a servicebus setting and is ignored (nearest: SERVICEBUS_NODE_NAME)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}

func TestNearestKey(t *testing.T) {
	names := []string{"SERVICEBUS_PORT", "SERVICEBUS_SSL_PORT", "SERVICEBUS_SECRET_TOKEN", "SERVICEBUS_TLS_CA_FILE"}
	for in, want := range map[string]string{
		"SERVICEBUS_PROT":         "SERVICEBUS_PORT",
		"SERVICEBUS_SECRET":       "SERVICEBUS_SECRET_TOKEN",
		"SERVICEBUS_SSLPORT":      "SERVICEBUS_SSL_PORT",
		"SERVICEBUS_TLS_CAFILE":   "SERVICEBUS_TLS_CA_FILE",
		"SERVICEBUS_SECRET_TOKEN": "SERVICEBUS_SECRET_TOKEN",
	} {
		if got := nearest(in, names); got != want {
			t.Errorf("nearest(%s) = %s, want %s", in, got, want)
		}
	}
}

// Every SERVICEBUS_* name the repository uses is a key's variable or a known
// tool variable, so our own tools never trigger the unknown-variable warning.
func TestToolVariablesCoverTheRepository(t *testing.T) {
	known := map[string]bool{}
	for _, k := range ConfigKeys() {
		known[k.Env] = true
	}
	re := regexp.MustCompile(`SERVICEBUS_[A-Z][A-Z0-9_]*[A-Z0-9]`)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".sh") || d.Name() == "Makefile") ||
			strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, name := range re.FindAllString(string(data), -1) {
			if !known[name] && !toolVariables[name] && name != "SERVICEBUS_" {
				t.Errorf("%s uses %s, which is neither a config key's variable nor in toolVariables (config_envcheck.go): "+
					"add it there, or LoadConfig warns about it", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfigWarnsOnStandardErrorByDefault(t *testing.T) {
	var buf strings.Builder
	stderrWarnings{w: &buf}.With(nil).Error("environment variable SERVICEBUS_FOO is not a servicebus setting", nil, watermill.LogFields{"x": 1})
	if got := buf.String(); got != "servicebus: warning: environment variable SERVICEBUS_FOO is not a servicebus setting\n" {
		t.Errorf("default warning line %q", got)
	}
}

// metrics_addr is checked with the other keys: host:port with a numeric
// port, and a Registerer /metrics can gather from.
func TestMetricsAddrIsValidatedWithTheOtherKeys(t *testing.T) {
	_, err := LoadConfig("", withEnviron([]string{
		"SERVICEBUS_SECRET_TOKEN=s",
		"SERVICEBUS_METRICS_ADDR=localhost",
		"SERVICEBUS_PORT=-1",
	}))
	wantAll(t, err,
		`SERVICEBUS_METRICS_ADDR: metrics_addr: "localhost": want host:port`,
		`SERVICEBUS_PORT: port: -1 is not a TCP port`,
	)
	c := DefaultConfig()
	c.SecretToken = "s"
	for addr, want := range map[string]string{
		":9464": "", "127.0.0.1:0": "", "[::1]:9464": "",
		"host:http": `port "http" is not a number`, "h:70000": `port "70000" is not a number`,
	} {
		c.MetricsAddr = addr
		err := c.Validate()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("metrics_addr %q: %v, want %q", addr, err, want)
		}
	}
	c.MetricsAddr = ":9464"
	c.Registerer = onlyRegisterer{prometheus.NewRegistry()}
	wantAll(t, c.Validate(), "metrics_addr: the Registerer is no prometheus.Gatherer")
}

// onlyRegisterer hides the Gatherer of a registry.
type onlyRegisterer struct{ prometheus.Registerer }
