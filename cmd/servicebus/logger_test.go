package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

// Without --verbose the CLI still shows errors, such as the warning that TLS
// verification is off; connection events stay hidden.
func TestCLILoggerShowsErrorsEvenWhenQuiet(t *testing.T) {
	var buf bytes.Buffer
	log := cliLogger(false, &buf)
	log.Info("Broker connected", nil)
	log.Error("TLS certificate verification is OFF", nil, watermill.LogFields{"broker": "amqps://h:5671/"})
	out := buf.String()
	if !strings.Contains(out, "verification is OFF") {
		t.Errorf("quiet CLI logger dropped an error: %q", out)
	}
	if strings.Contains(out, "Broker connected") {
		t.Errorf("quiet CLI logger printed an info line: %q", out)
	}

	buf.Reset()
	cliLogger(true, &buf).Info("Broker connected", nil)
	if !strings.Contains(buf.String(), "Broker connected") {
		t.Errorf("--verbose CLI logger dropped an info line: %q", buf.String())
	}
}
