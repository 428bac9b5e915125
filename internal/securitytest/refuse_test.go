package securitytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// TestNoSecretRefusesToStartUnlessTokensAreOff: a config file or
// environment without secret_token does not load, unless it says
// token_mode: off — and nothing else counts as saying so. (The root
// package's test of the same name covers configs built in code, NewAgent and
// NewSender.)
func TestNoSecretRefusesToStartUnlessTokensAreOff(t *testing.T) {
	dir := t.TempDir()
	load := func(doc string) (servicebus.Config, error) {
		t.Helper()
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return servicebus.LoadConfig(path)
	}
	refused := []string{
		"node_name: n\n",                       // the default mode is daily
		"node_name: n\ntoken_mode: daily\n",    //
		"node_name: n\ntoken_mode: hmac\n",     //
		"node_name: n\nsecret_token: \"\"\n",   //
		"node_name: n\ntoken_mode: \"\"\n",     // empty is not off
		"node_name: n\ntoken_mode: none\n",     //
		"node_name: n\ntoken_mode: false\n",    // YAML false is not the word off
		"node_name: n\ntoken_mode: disabled\n", //
		"node_name: n\ntoken_mode: \"off \"\n", //
		"node_name: n\ntoken_mode: hmac\nsecret_token: \"\"\n",
	}
	for _, doc := range refused {
		cfg, err := load(doc)
		if err == nil {
			t.Errorf("%q loaded (token_mode %q); want a refusal", doc, cfg.TokenMode)
			continue
		}
		if !strings.Contains(err.Error(), "secret_token") && !strings.Contains(err.Error(), "token_mode") {
			t.Errorf("%q: error %q names neither secret_token nor token_mode", doc, err)
		}
	}
	cfg, err := load("node_name: n\ntoken_mode: off\n")
	if err != nil {
		t.Fatalf("token_mode: off without secret: %v", err)
	}
	v, err := cfg.TokenValidator()
	if err != nil || v != token.NoTokens {
		t.Fatalf("token_mode off: validator %v, %v", v, err)
	}

	// Environment: an empty SERVICEBUS_SECRET_TOKEN wipes a secret of the file.
	t.Setenv("SERVICEBUS_SECRET_TOKEN", "")
	if _, err := load("node_name: n\nsecret_token: s\n"); err == nil {
		t.Error("empty SERVICEBUS_SECRET_TOKEN: loaded")
	}
	t.Setenv("SERVICEBUS_TOKEN_MODE", "off")
	if _, err := load("node_name: n\n"); err != nil {
		t.Errorf("SERVICEBUS_TOKEN_MODE=off: %v", err)
	}
}

// TestAgentAndSenderRefuseToRunWithoutATokenScheme: the packages themselves
// have no default that accepts everything.
func TestAgentAndSenderRefuseToRunWithoutATokenScheme(t *testing.T) {
	ep := []broker.Endpoint{{URL: "amqp://guest:guest@127.0.0.1:5672/"}}
	if _, err := router.NewAgent(router.Config{Endpoints: ep, NodeName: "n"}, nil); err == nil || !strings.Contains(err.Error(), "Tokens") {
		t.Errorf("agent without Tokens: %v", err)
	}
	if _, err := rpc.NewSender(rpc.Config{Endpoints: ep}, nil); err == nil || !strings.Contains(err.Error(), "Signer") {
		t.Errorf("sender without Signer: %v", err)
	}
}
