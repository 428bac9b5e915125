package servicebus

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// clearEnv unsets every SERVICEBUS_<KEY> variable for the test, so that the
// caller's environment cannot change what LoadConfig returns.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range ConfigKeys() {
		t.Setenv(k.Env, "") // restores the old value after the test
		os.Unsetenv(k.Env)
	}
}

// validConfig is the default config made valid with a secret.
func validConfig() Config {
	c := DefaultConfig()
	c.SecretToken = "secret token"
	return c
}

func TestDefaultConfigHasPyServicebusDefaults(t *testing.T) {
	c := DefaultConfig()
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	want := Config{
		Hosts: []string{"127.0.0.1"}, Port: 5672, SSLPort: 5671, UseSSL: false,
		User: "guest", Password: "guest", VHost: "/", NodeName: host,
		ExchangeName: "py-servicebus", TokenMode: TokenDaily, TokenTimezone: "local",
		TopologyKind: topology.Compat, SocketTimeout: 5 * time.Second,
		HeartbeatInterval: 10 * time.Second, ProbeInterval: 5 * time.Second,
		ReconnectMax: 2 * time.Second, Concurrency: 64, CallTimeout: 30 * time.Second,
		DrainTimeout: 30 * time.Second, MaxBodySize: 1 << 20, ReplyMode: ReplyQueue,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("DefaultConfig()\n got %#v\nwant %#v", configPlain(c), configPlain(want))
	}
}

func TestLoadConfigReadsEveryKey(t *testing.T) {
	data, err := os.ReadFile("testdata/config/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := c.unmarshalYAMLBytes(data, nil); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hosts: []string{"rabbit-a", "rabbit-b:5673", "amqps://rabbit-c:5999"}, Port: 5680, SSLPort: 5681,
		User: "svc", Password: "p@ss:w/rd", VHost: "/prod", NodeName: "NODE-01",
		ExchangeName: "my-exchange", SecretToken: "s3cr3t token", TokenMode: TokenHMAC,
		TokenTimezone: "UTC", TopologyKind: topology.Durable,
		SocketTimeout: 7 * time.Second, HeartbeatInterval: 15 * time.Second,
		ProbeInterval: 2500 * time.Millisecond, ReconnectMax: 1500 * time.Millisecond,
		Concurrency: 8, CallTimeout: time.Minute, DrainTimeout: 0, MaxBodySize: 65536,
		ReplyMode: ReplyDirect,
		TLS: TLSConfig{CAFile: "ca.pem", CertFile: "client.pem", KeyFile: "client-key.pem",
			ServerName: "rabbit.example"},
		MetricsAddr: "127.0.0.1:9464",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("full.yaml\n got %#v\nwant %#v", configPlain(c), configPlain(want))
	}
	// Every key is in full.yaml, so a key added to Config without a test shows here.
	for _, k := range ConfigKeys() {
		name := k.Key[strings.LastIndexByte(k.Key, '.')+1:]
		if !strings.Contains(string(data), "\n"+name+":") && !strings.Contains(string(data), " "+name+":") {
			t.Errorf("key %s missing from testdata/config/full.yaml", k.Key)
		}
	}
}

func TestLoadConfigPyServicebusFile(t *testing.T) {
	clearEnv(t)
	c, err := LoadConfig("testdata/config/py-servicebus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Hosts, []string{"127.0.0.1", "127.0.0.2"}) || c.NodeName != "NODE-01" ||
		c.SecretToken != "secret token" || c.SocketTimeout != 5*time.Second ||
		c.HeartbeatInterval != 10*time.Second || c.TokenMode != TokenDaily {
		t.Fatalf("got %v", c)
	}
}

func TestLoadConfigEmptyFileAndNoFileAreDefaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "s")
	want := DefaultConfig()
	want.SecretToken = "s"
	for _, path := range []string{"", "testdata/config/empty.yaml"} {
		c, err := LoadConfig(path)
		if err != nil {
			t.Fatalf("LoadConfig(%q): %v", path, err)
		}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("LoadConfig(%q) = %v, want defaults", path, c)
		}
	}
}

func TestLoadConfigNamesUnknownKeys(t *testing.T) {
	clearEnv(t)
	_, err := LoadConfig("testdata/config/unknown-keys.yaml")
	if err == nil {
		t.Fatal("unknown keys accepted")
	}
	for _, want := range []string{`line 3: unknown key "hostz"`, `line 5: unknown key "tls.ca_fil"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "server_name") {
		t.Errorf("known key reported: %v", err)
	}
}

func TestLoadConfigNamesEveryBadValue(t *testing.T) {
	clearEnv(t)
	_, err := LoadConfig("testdata/config/bad-values.yaml")
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{
		`line 1: port: "eighty" is not an integer`,
		`line 2: use_ssl: "maybe" is not a boolean`,
		`line 3: socket_timeout: "soon" is not a duration`,
		`line 4: hosts: must be a list of strings`,
		`line 5: tls must be a mapping of keys`,
		`line 7: concurrency: duplicate key`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	clearEnv(t)
	_, err := LoadConfig("testdata/config/no-such-file.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}

func TestEnvOverridesYAML(t *testing.T) {
	clearEnv(t)
	t.Setenv("SERVICEBUS_HOSTS", " 10.0.0.1:5680 , amqps://10.0.0.2 ,")
	t.Setenv("SERVICEBUS_NODE_NAME", "FROM-ENV")
	t.Setenv("SERVICEBUS_SOCKET_TIMEOUT", "250ms")
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "env secret")
	t.Setenv("SERVICEBUS_TLS_SERVER_NAME", "rabbit.internal")
	c, err := LoadConfig("testdata/config/py-servicebus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Hosts, []string{"10.0.0.1:5680", "amqps://10.0.0.2"}) {
		t.Errorf("hosts = %q", c.Hosts)
	}
	if c.NodeName != "FROM-ENV" || c.SocketTimeout != 250*time.Millisecond ||
		c.SecretToken != "env secret" || c.TLS.ServerName != "rabbit.internal" {
		t.Errorf("env did not override: %v", c)
	}
	if c.HeartbeatInterval != 10*time.Second || c.ExchangeName != "py-servicebus" {
		t.Errorf("YAML keys without env lost: %v", c)
	}
}

func TestApplyEnvEveryKey(t *testing.T) {
	env := map[string]string{
		"SERVICEBUS_HOSTS":                    "a,b:1",
		"SERVICEBUS_PORT":                     "1",
		"SERVICEBUS_SSL_PORT":                 "2",
		"SERVICEBUS_USE_SSL":                  "true",
		"SERVICEBUS_USER":                     "u",
		"SERVICEBUS_PASSWORD":                 "p",
		"SERVICEBUS_VHOST":                    "v",
		"SERVICEBUS_NODE_NAME":                "n",
		"SERVICEBUS_EXCHANGE_NAME":            "e",
		"SERVICEBUS_SECRET_TOKEN":             "s",
		"SERVICEBUS_TOKEN_MODE":               "off",
		"SERVICEBUS_TOKEN_TIMEZONE":           "UTC",
		"SERVICEBUS_TOPOLOGY":                 "durable",
		"SERVICEBUS_SOCKET_TIMEOUT":           "3",
		"SERVICEBUS_HEARTBEAT_INTERVAL":       "4s",
		"SERVICEBUS_PROBE_INTERVAL":           "0.5",
		"SERVICEBUS_RECONNECT_MAX":            "6s",
		"SERVICEBUS_CONCURRENCY":              "7",
		"SERVICEBUS_CALL_TIMEOUT":             "8s",
		"SERVICEBUS_DRAIN_TIMEOUT":            "9s",
		"SERVICEBUS_MAX_BODY_SIZE":            "10",
		"SERVICEBUS_REPLY_MODE":               "direct",
		"SERVICEBUS_TLS_CA_FILE":              "ca",
		"SERVICEBUS_TLS_CERT_FILE":            "cert",
		"SERVICEBUS_TLS_KEY_FILE":             "key",
		"SERVICEBUS_TLS_SERVER_NAME":          "sn",
		"SERVICEBUS_TLS_INSECURE_SKIP_VERIFY": "yes",
		"SERVICEBUS_METRICS_ADDR":             ":9464",
	}
	if len(env) != len(ConfigKeys()) {
		t.Fatalf("test covers %d variables, config has %d keys", len(env), len(ConfigKeys()))
	}
	c := DefaultConfig()
	if err := c.ApplyEnv(mapLookup(env)); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hosts: []string{"a", "b:1"}, Port: 1, SSLPort: 2, UseSSL: true, User: "u", Password: "p",
		VHost: "v", NodeName: "n", ExchangeName: "e", SecretToken: "s", TokenMode: TokenOff,
		TokenTimezone: "UTC", TopologyKind: topology.Durable, SocketTimeout: 3 * time.Second,
		HeartbeatInterval: 4 * time.Second, ProbeInterval: 500 * time.Millisecond,
		ReconnectMax: 6 * time.Second, Concurrency: 7, CallTimeout: 8 * time.Second,
		DrainTimeout: 9 * time.Second, MaxBodySize: 10, ReplyMode: ReplyDirect,
		TLS:         TLSConfig{CAFile: "ca", CertFile: "cert", KeyFile: "key", ServerName: "sn", InsecureSkipVerify: true},
		MetricsAddr: ":9464",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("\n got %#v\nwant %#v", configPlain(c), configPlain(want))
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestApplyEnvNamesEveryBadVariable(t *testing.T) {
	c := DefaultConfig()
	err := c.ApplyEnv(mapLookup(map[string]string{
		"SERVICEBUS_PORT":                     "x5672",
		"SERVICEBUS_USE_SSL":                  "sure",
		"SERVICEBUS_CALL_TIMEOUT":             "forever",
		"SERVICEBUS_TLS_INSECURE_SKIP_VERIFY": "2",
		"SERVICEBUS_CONCURRENCY":              "1e3",
	}))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{
		`SERVICEBUS_PORT: "x5672" is not an integer`,
		`SERVICEBUS_USE_SSL: "sure" is not a boolean`,
		`SERVICEBUS_CALL_TIMEOUT: "forever" is not a duration`,
		`SERVICEBUS_TLS_INSECURE_SKIP_VERIFY: "2" is not a boolean`,
		`SERVICEBUS_CONCURRENCY: "1e3" is not an integer`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestApplyEnvEmptyVariableOverrides(t *testing.T) {
	c := validConfig()
	if err := c.ApplyEnv(mapLookup(map[string]string{"SERVICEBUS_SECRET_TOKEN": ""})); err != nil {
		t.Fatal(err)
	}
	if c.SecretToken != "" {
		t.Fatal("an empty variable did not override")
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{"0", 0, true},
		{"2.5", 2500 * time.Millisecond, true},
		{" 10 ", 10 * time.Second, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"500ms", 500 * time.Millisecond, true},
		{"1h2m", time.Hour + 2*time.Minute, true},
		{"-1", -time.Second, true},
		{"", 0, false},
		{"5 s", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"1e300", 0, false},
		{"soon", 0, false},
	} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := Config{
		Hosts: []string{"ok", "bad host", "h:99999", "amqp://u:pw@h", "ftp://h", "amqps://h/vh"},
		Port:  0, SSLPort: 70000, User: "", VHost: "", NodeName: "amq.node",
		ExchangeName: "", TokenMode: "maybe", TokenTimezone: "Mars/Olympus",
		TopologyKind: "quorum", SocketTimeout: 0, HeartbeatInterval: 500 * time.Millisecond,
		ProbeInterval: -1, ReconnectMax: 0, Concurrency: 0, CallTimeout: 0, DrainTimeout: -1,
		MaxBodySize: 0, ReplyMode: "carrier-pigeon",
		TLS: TLSConfig{CAFile: "testdata/config/no-such-ca.pem", CertFile: "x"},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`hosts[1]: "bad host" is not a host or host:port`,
		`hosts[2]: "h:99999": port "99999" is not a TCP port`,
		`hosts[3]: "amqp://[REDACTED]@h": credentials go in user and password`,
		`hosts[4]: scheme "ftp"`,
		`hosts[5]: "amqps://h/vh": a host has no path`,
		"port: 0 is not a TCP port", "ssl_port: 70000 is not a TCP port",
		"user: is empty", "vhost: is empty", `node_name: "amq.node": names starting with "amq."`,
		"exchange_name: is empty", `token_mode: "maybe" is not one of`,
		`token_timezone: "Mars/Olympus"`, `topology: "quorum" is not one of`,
		"socket_timeout: 0s must be positive", "heartbeat_interval: 500ms is outside",
		"probe_interval: -1ns must be positive", "reconnect_max: 0s must be positive",
		"call_timeout: 0s must be positive", "drain_timeout: -1ns is negative",
		"concurrency: 0 must be at least 1", "max_body_size: 0 is outside",
		`reply_mode: "carrier-pigeon" is not one of`,
		"tls.cert_file: tls.cert_file and tls.key_file must be set together",
		"tls.ca_file: stat testdata/config/no-such-ca.pem",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not contain %q", want)
		}
	}
	if strings.Contains(msg, "pw") {
		t.Errorf("error shows a password from hosts: %s", msg)
	}
	if t.Failed() {
		t.Log(msg)
	}
}

func TestValidateHosts(t *testing.T) {
	for _, tc := range []struct {
		hosts  []string
		useSSL bool
		ok     bool
	}{
		{[]string{"localhost"}, false, true},
		{[]string{"127.0.0.1:5673", "rabbit.example.com"}, false, true},
		{[]string{"[::1]:5673", "[::1]", "::1"}, false, true},
		{[]string{"amqp://h", "amqps://h:1", "amqp://h:2/"}, false, true},
		{[]string{"amqps://h"}, true, true},
		{[]string{"amqp://h"}, true, false}, // plain text despite use_ssl
		{nil, false, false},
		{[]string{""}, false, false},
		{[]string{":5672"}, false, false},
		{[]string{"h:"}, false, false},
		{[]string{"h:0"}, false, false},
		{[]string{"h:x"}, false, false},
		{[]string{"amqp://h?heartbeat=1"}, false, false},
		{[]string{"u@h"}, false, false},
	} {
		c := validConfig()
		c.Hosts, c.UseSSL = tc.hosts, tc.useSSL
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("hosts %q use_ssl %v: Validate() = %v, want ok=%v", tc.hosts, tc.useSSL, err, tc.ok)
		}
	}
}

func TestValidateTLSSettingsWithoutTLSBroker(t *testing.T) {
	c := validConfig()
	c.TLS.ServerName = "rabbit"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no broker uses TLS") {
		t.Fatalf("Validate() = %v, want a plain-text warning", err)
	}
	c.UseSSL = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.UseSSL = false
	c.Hosts = []string{"127.0.0.1", "amqps://rabbit"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTokenLocation(t *testing.T) {
	for _, tc := range []struct {
		tz   string
		want string
	}{{"", "Local"}, {"local", "Local"}, {"UTC", "UTC"}, {"utc", "UTC"}, {"Europe/Berlin", "Europe/Berlin"}} {
		c := validConfig()
		c.TokenTimezone = tc.tz
		loc, err := c.TokenLocation()
		if err != nil {
			if tc.tz == "Europe/Berlin" {
				t.Skip("no time zone database")
			}
			t.Fatal(err)
		}
		if loc.String() != tc.want {
			t.Errorf("%q: got %s want %s", tc.tz, loc, tc.want)
		}
	}
}

func TestTopologyAndBackoff(t *testing.T) {
	c := validConfig()
	c.TopologyKind, c.ExchangeName, c.ReconnectMax = topology.Durable, "ex", 7*time.Second
	if got := c.Topology(); got != (topology.Topology{Kind: topology.Durable, Exchange: "ex"}) {
		t.Errorf("Topology() = %+v", got)
	}
	if b := c.Backoff(); b.Max != 7*time.Second || b.Initial != broker.DefaultBackoff().Initial {
		t.Errorf("Backoff() = %+v", b)
	}
}

func TestConfigKeys(t *testing.T) {
	keys := ConfigKeys()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Env] {
			t.Errorf("duplicate env %s", k.Env)
		}
		seen[k.Env] = true
		if k.Env != EnvName(k.Key) {
			t.Errorf("%s: env %s", k.Key, k.Env)
		}
	}
	for _, want := range []ConfigKey{
		{"hosts", "SERVICEBUS_HOSTS", "[127.0.0.1]"},
		{"tls.ca_file", "SERVICEBUS_TLS_CA_FILE", `""`},
		{"socket_timeout", "SERVICEBUS_SOCKET_TIMEOUT", "5s"},
		{"password", "SERVICEBUS_PASSWORD", "guest"},
		{"secret_token", "SERVICEBUS_SECRET_TOKEN", `""`},
		{"node_name", "SERVICEBUS_NODE_NAME", `"(host name)"`},
	} {
		if !slices.Contains(keys, want) {
			t.Errorf("ConfigKeys() lacks %+v", want)
		}
	}
}

func TestLoadConfigReportsFileAndValidationErrors(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("token_mode: hmac\nconcurrency: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{path, "secret_token: is empty", "concurrency: 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q: %v", want, err)
		}
	}
}

func TestReadmeListsEveryKey(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, k := range ConfigKeys() {
		if !strings.Contains(string(data), "| `"+k.Key+"` | `"+k.Env+"` |") {
			t.Errorf("README.md config table lacks key %s (%s)", k.Key, k.Env)
		}
	}
}
