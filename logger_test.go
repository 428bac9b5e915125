package servicebus

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"
)

func TestLogrusLoggerCarriesFieldsAndErrors(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.SetLevel(logrus.TraceLevel)

	log := LogrusLogger(l).With(watermill.LogFields{"node": "NODE-01"})
	log.Error("reply failed", errors.New("boom"), watermill.LogFields{"id": "7"})
	log.Info("started", nil)

	out := buf.String()
	for _, want := range []string{`"node":"NODE-01"`, `"id":"7"`, `"error":"boom"`, `"msg":"reply failed"`, `"msg":"started"`, `"level":"error"`, `"level":"info"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %s:\n%s", want, out)
		}
	}
}

// An error-level warning without an error (TLS verification off, an unknown
// variable) has no error field, not error="<nil>".
func TestLogrusLoggerWarningHasNoNilError(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.SetOutput(&buf)
	LogrusLogger(l).Error("TLS certificate verification is OFF", nil, nil)
	if out := buf.String(); !strings.Contains(out, "verification is OFF") || strings.Contains(out, "error=") {
		t.Errorf("log line %q", out)
	}
}
