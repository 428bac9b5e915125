package securitytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// noSecret fails the test if any of texts contains any of secrets.
func noSecret(t *testing.T, where string, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%.8s…): %.400q", where, s, text)
		}
	}
}

// printed is v through every way a program prints a value.
func printed(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	if b, err := json.Marshal(v); err == nil {
		out["json"] = string(b)
	}
	func() {
		defer func() { _ = recover() }() // yaml.v3 panics on func fields
		if b, err := yaml.Marshal(v); err == nil {
			out["yaml"] = string(b)
		}
	}()
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "v", v)
	out["slog"] = sb.String()
	if s, ok := v.(fmt.Stringer); ok {
		out["String()"] = s.String()
	}
	return out
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	secret, password := uniq("secret"), uniq("password")
	cfg := servicebus.DefaultConfig()
	cfg.SecretToken = servicebus.Secret(secret)
	cfg.Password = servicebus.Secret(password)
	cfg.TokenMode = servicebus.TokenHMAC
	for how, text := range printed(t, cfg) {
		noSecret(t, "config "+how, text, secret, password)
	}
	for how, text := range printed(t, &cfg) {
		noSecret(t, "*config "+how, text, secret, password)
	}
	// The token schemes built from it do not print it either.
	signer, err := cfg.TokenSigner()
	if err != nil {
		t.Fatal(err)
	}
	for how, text := range printed(t, signer) {
		noSecret(t, "signer "+how, text, secret)
	}
	daily := token.NewDailyTokens(secret, nil)
	for how, text := range printed(t, daily) {
		noSecret(t, "daily tokens "+how, text, secret)
	}
}

func TestConfigErrorsNeverShowSecrets(t *testing.T) {
	secret, password := uniq("secret"), uniq("password")
	dir := t.TempDir()
	cases := map[string]string{
		"bad other key":    "secret_token: " + secret + "\npassword: " + password + "\nport: nope\nbogus: 1\n",
		"secret as a list": "secret_token: [" + secret + "]\npassword: {p: " + password + "}\n",
		"hosts with creds": "secret_token: x\nhosts: [\"amqp://guest:" + password + "@127.0.0.1:5672\"]\n",
		"broken yaml":      "secret_token: " + secret + "\npassword: \"" + password + "\n  : [\n",
		"tab indent":       "secret_token: " + secret + "\n\tpassword: " + password + "\n",
	}
	for name, doc := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := servicebus.LoadConfig(path)
		if err == nil {
			t.Fatalf("%s: loaded", name)
		}
		noSecret(t, name+" error", err.Error(), secret, password)
	}
	// The same through the environment.
	t.Setenv("SERVICEBUS_SECRET_TOKEN", secret)
	t.Setenv("SERVICEBUS_PASSWORD", password)
	t.Setenv("SERVICEBUS_PORT", "x")
	t.Setenv("SERVICEBUS_USE_SSL", "maybe")
	t.Setenv("SERVICEBUS_TOKEN_MODE", "sometimes")
	if _, err := servicebus.LoadConfig(""); err == nil {
		t.Fatal("loaded")
	} else {
		noSecret(t, "env error", err.Error(), secret, password)
	}
}

// TestEndpointsNeverShowThePassword: the broker URL carries the password; it
// must not reach String(), dial errors, sender errors or logs.
func TestEndpointsNeverShowThePassword(t *testing.T) {
	url := os.Getenv("SERVICEBUS_TEST_URL")
	if url == "" {
		url = "amqp://guest:guest@127.0.0.1:5672/"
	}
	password := uniq("password")
	bad := broker.Endpoint{URL: "amqp://guest:" + password + "@127.0.0.1:5672/", DialTimeout: 5 * time.Second}
	noSecret(t, "Endpoint.String", bad.String(), password)
	noSecret(t, "Endpoint %v", fmt.Sprintf("%v %+v %s %#v", bad, bad, bad, bad), password)
	noSecret(t, "[]Endpoint %#v", fmt.Sprintf("%#v %+v", []broker.Endpoint{bad}, []broker.Endpoint{bad}), password)

	for name, ep := range map[string]broker.Endpoint{
		"wrong password": bad,
		"closed port":    {URL: "amqp://guest:" + password + "@127.0.0.1:1/", DialTimeout: 2 * time.Second},
		"bad port":       {URL: "amqp://guest:" + password + "@127.0.0.1:99999/"},
		"bad url":        {URL: "amqp://guest:" + password + "@127.0.0.1:56 72/"},
		"bad scheme":     {URL: "http://guest:" + password + "@127.0.0.1:5672/"},
		"tls to plain":   {URL: "amqps://guest:" + password + "@127.0.0.1:5672/", DialTimeout: 2 * time.Second},
	} {
		conn, err := ep.Dial()
		if err == nil {
			conn.Close()
			t.Fatalf("%s: connected", name)
		}
		noSecret(t, name+" dial error", err.Error(), password)
		noSecret(t, name+" String", ep.String(), password)
	}

	// A sender and an agent whose only broker refuses the password: their
	// errors and every log line are clean.
	secret := uniq("secret")
	log := newCaptureLog()
	topo := topology.Topology{Kind: topology.Compat, Exchange: uniq("x")}
	node := uniq("node")
	fast := broker.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}
	s, err := rpc.NewSender(rpc.Config{Endpoints: []broker.Endpoint{bad}, Topology: topo, Signer: token.NewHMACTokens(secret, token.HMACOptions{}),
		CallTimeout: 2 * time.Second, ProbeInterval: -1, Backoff: fast}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := router.NewAgent(router.Config{Endpoints: []broker.Endpoint{bad}, Topology: topo, NodeName: node,
		Tokens: token.NewHMACTokens(secret, token.HMACOptions{}), ProbeInterval: -1, Backoff: fast, DrainTimeout: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		noSecret(t, "agent start error", err.Error(), password, secret)
	}
	_, err = s.Call(context.Background(), node+".math.add", []int{1})
	if err == nil {
		t.Fatal("call through a refused broker succeeded")
	}
	noSecret(t, "call error", err.Error(), password, secret)
	err = s.Send(context.Background(), node+".math.add", []int{1})
	if err == nil {
		t.Fatal("send through a refused broker succeeded")
	}
	noSecret(t, "send error", err.Error(), password, secret)
	log.WaitFor(t, 10*time.Second, 1, "403")
	if err := a.Close(); err != nil {
		noSecret(t, "agent close error", err.Error(), password, secret)
	}
	noSecret(t, "logs", log.All(), password, secret)
	for how, text := range printed(t, router.Config{Endpoints: []broker.Endpoint{bad}, Tokens: token.NewHMACTokens(secret, token.HMACOptions{})}) {
		noSecret(t, "router.Config "+how, text, password, secret)
	}
	_ = url
}

// TestLogsOfAWholeSessionHoldNoSecret runs calls, bad-token calls and
// hostile input in both token modes with every log level captured, and
// looks for the secret and for a valid daily token in the logs.
func TestLogsOfAWholeSessionHoldNoSecret(t *testing.T) {
	for _, mode := range []string{"daily", "hmac"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, "logs-"+mode)
			secret := uniq("secret")
			var tokens interface {
				token.Signer
				token.Validator
			} = token.NewDailyTokens(secret, time.Local)
			if mode == "hmac" {
				tokens = token.NewHMACTokens(secret, token.HMACOptions{Compat: true})
			}
			log := newCaptureLog()
			w.startAgent(tokens, log)
			s := w.startSender(tokens, log)
			raw := w.rawClient()
			if _, err := s.Call(context.Background(), w.node+".math.add", []int{1, 2}); err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), w.node+".math.add", []int{1, 2}); err != nil {
				t.Fatal(err)
			}
			_, err := s.Call(context.Background(), w.node+".no.such", nil)
			var re *rpc.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("unknown service: %v", err)
			}
			noSecret(t, "remote error", err.Error(), secret)
			wrong := w.startSender(token.NewDailyTokens(secret+"x", time.Local), log)
			_, err = wrong.Call(context.Background(), w.node+".math.add", []int{1})
			if !errors.As(err, &re) || re.Code != codec.CodeBadToken {
				t.Fatalf("wrong secret: %v", err)
			}
			noSecret(t, "bad token error", err.Error(), secret)
			raw.call([]byte(billionLaughs), nil)
			log.WaitFor(t, 5*time.Second, 1, "token not valid")
			log.WaitFor(t, 5*time.Second, 1, "undecodable")
			now := time.Now()
			day := 24 * time.Hour
			noSecret(t, "logs", log.All(), secret,
				token.DailyToken(secret, now, time.Local),
				token.DailyToken(secret, now.Add(-day), time.Local),
				token.DailyToken(secret, now.Add(day), time.Local))
		})
	}
}
