package servicebus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	testPassword = "pa55-SENTINEL-word"
	testSecret   = "tok3n-SENTINEL-secret"
)

// secretConfig holds both secrets, and one in a host URL too.
func secretConfig() Config {
	c := DefaultConfig()
	c.Password = testPassword
	c.SecretToken = testSecret
	c.Hosts = []string{"127.0.0.1", "amqp://admin:" + testPassword + "@10.0.0.1"}
	return c
}

func TestConfigPrintingNeverShowsSecrets(t *testing.T) {
	c := secretConfig()
	type Exported struct{ Cfg Config }
	type Holder struct {
		Pass   Secret
		Secret Secret
	}
	jsonOut, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	yamlOut, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	yamlPtr, err := yaml.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	jsonSecret, _ := json.Marshal(map[string]any{"p": c.Password, "k": []Secret{c.SecretToken}})
	var logBuf, slogText, slogJSON bytes.Buffer
	log.New(&logBuf, "", 0).Printf("config %v %+v %s", c, &c, c)
	slog.New(slog.NewTextHandler(&slogText, nil)).Info("start", "config", c, "pw", c.Password)
	slog.New(slog.NewJSONHandler(&slogJSON, nil)).Info("start", "config", c, "pw", c.Password, "cfg", &c)

	outputs := map[string]string{
		"String":      c.String(),
		"GoString":    c.GoString(),
		"%v":          fmt.Sprintf("%v", c),
		"%+v":         fmt.Sprintf("%+v", c),
		"%#v":         fmt.Sprintf("%#v", c),
		"%s":          fmt.Sprintf("%s", c),
		"%q":          fmt.Sprintf("%q", c),
		"%x":          fmt.Sprintf("%x", c),
		"%v ptr":      fmt.Sprintf("%v", &c),
		"%+v ptr":     fmt.Sprintf("%+v", &c),
		"%#v ptr":     fmt.Sprintf("%#v", &c),
		"Println":     fmt.Sprintln(c, &c),
		"nested %+v":  fmt.Sprintf("%+v", Exported{c}),
		"nested %#v":  fmt.Sprintf("%#v", Exported{c}),
		"slice %v":    fmt.Sprintf("%v", []Config{c}),
		"map %v":      fmt.Sprintf("%v", map[string]Config{"a": c}),
		"secret %v":   fmt.Sprintf("%v %s %q %x %X %d", c.Password, c.Password, c.Password, c.Password, c.Password, c.Password),
		"secret %#v":  fmt.Sprintf("%#v %+v", c.SecretToken, c.SecretToken),
		"secrets %v":  fmt.Sprintf("%v %+v %#v", Holder{c.Password, c.SecretToken}, Holder{c.Password, c.SecretToken}, Holder{c.Password, c.SecretToken}),
		"error %v":    fmt.Errorf("wrap: %v / %w", c, fmt.Errorf("%+v", c)).Error(),
		"json":        string(jsonOut),
		"json secret": string(jsonSecret),
		"yaml":        string(yamlOut),
		"yaml ptr":    string(yamlPtr),
		"log":         logBuf.String(),
		"slog text":   slogText.String(),
		"slog json":   slogJSON.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "SENTINEL") {
			t.Errorf("%s shows a secret: %s", name, out)
		}
		if name != "secret %v" && !strings.Contains(out, "REDACTED") {
			t.Errorf("%s has no redaction marker: %s", name, out)
		}
	}
	// The redacted copy must not change the original.
	if c.Password != testPassword || c.SecretToken != testSecret || !strings.Contains(c.Hosts[1], testPassword) {
		t.Fatal("printing changed the config")
	}
}

func TestConfigPrintingShowsTheRest(t *testing.T) {
	c := secretConfig()
	c.NodeName = "NODE-01"
	s := c.String()
	for _, want := range []string{"hosts=[127.0.0.1,amqp://[REDACTED]@10.0.0.1]", "node_name=NODE-01",
		"user=guest", "password=[REDACTED]", "secret_token=[REDACTED]", "socket_timeout=5s", `tls.ca_file=""`} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q: %s", want, s)
		}
	}
	if gs := c.GoString(); !strings.HasPrefix(gs, "servicebus.Config{Hosts:") || !strings.Contains(gs, `Password:"[REDACTED]"`) {
		t.Errorf("GoString() = %s", gs)
	}
	// An empty secret shows as empty, so a missing secret is visible.
	c.SecretToken = ""
	if !strings.Contains(c.String(), `secret_token=""`) {
		t.Errorf("empty secret not shown as empty: %s", c)
	}
}

func TestEnvErrorsNeverShowSecrets(t *testing.T) {
	// Secrets are plain strings, so no value is refused; this guards the
	// error path should a secret ever get a parsed type.
	c := DefaultConfig()
	for _, f := range configFields(&c) {
		if !f.secret {
			continue
		}
		if err := f.set(testSecret); err != nil && strings.Contains(err.Error(), "SENTINEL") {
			t.Errorf("%s: error shows the secret: %v", f.key, err)
		}
	}
}

func TestMarshaledYAMLLoadsBack(t *testing.T) {
	c := validConfig()
	c.Hosts = []string{"a", "b:5673"}
	c.SocketTimeout = 1500 * 1e6
	c.TLS.ServerName = "rabbit"
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got := DefaultConfig()
	if err := got.unmarshalYAMLBytes(out, nil); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := c
	want.Password, want.SecretToken = redacted, redacted
	if got.String() != want.String() || got.Password != redacted {
		t.Fatalf("round trip\n got %v\nwant %v\n%s", got, want, out)
	}
}
