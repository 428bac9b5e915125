package router

import (
	"strings"
	"testing"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func TestValidateNamesEveryProblem(t *testing.T) {
	cfg := Config{
		Endpoints:    []broker.Endpoint{{URL: ""}},
		Topology:     topology.Topology{Kind: "weird"},
		NodeName:     "amq.node",
		Concurrency:  -1,
		Codec:        codec.Options{MaxBodySize: -5},
		DrainTimeout: -1,
		ReplyTimeout: -1,
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, field := range []string{"Endpoints[0].URL", "Topology", "NodeName", "Concurrency", "Tokens", "Codec.MaxBodySize", "DrainTimeout", "ReplyTimeout"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
	if err := (Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Endpoints: at least one") || !strings.Contains(err.Error(), "NodeName: empty") {
		t.Errorf("empty config: %v", err)
	}
}

func TestDefaultsFillTheZeroConfig(t *testing.T) {
	cfg := Config{Endpoints: []broker.Endpoint{{URL: "amqp://x"}}, NodeName: "n", Tokens: token.NoTokens}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != DefaultConcurrency || cfg.DrainTimeout != DefaultDrainTimeout || cfg.ReplyTimeout != DefaultReplyTimeout ||
		cfg.MessageRetry.MaxRetries != 3 || cfg.Backoff != broker.DefaultBackoff() {
		t.Errorf("defaults: %+v", cfg)
	}
	off := Config{MessageRetry: RetryConfig{MaxRetries: -1}}
	off.setDefaults()
	if off.MessageRetry.MaxRetries != -1 {
		t.Errorf("negative MaxRetries (retry off) was overwritten: %d", off.MessageRetry.MaxRetries)
	}
}

func TestPermanentErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{Permanent(errString("x")), true},
		{NewError(codec.CodeBadRequest, "x"), true},
		{NewError(codec.CodeServiceError, "x"), false},
		{NewError(codec.CodeUnavailable, "x"), false},
		{errString("x"), false},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v", tc.err, got)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	e := Errorf(codec.CodeUnavailable, "db: %w", errString("down"))
	if e.Message != "db: down" || e.Err == nil || e.Err.Error() != "down" {
		t.Errorf("Errorf: %+v", e)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
