package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/go-servicebus/servicebus/servicebustest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example against the test broker: the sends reach the agent through
// the Wrapper, the call through the Sender, the handler of its own sees
// every audit event, and the metrics are labelled by service.
func TestWatermillExampleRuns(t *testing.T) {
	cfg := servicebustest.BrokerConfig(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, cfg, options{sends: 3}, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"call " + cfg.NodeName + ".math.add([1, 2]) = 3\n",
		"sent 3 messages through the Wrapper; their sums add up to 6\n",
		"audit: rpc:math.add ok=true\n",
		"audit: message:math.add ok=true\n",
		`servicebus_handler_execution_time_seconds{handler_name="rpc:math.add",success="true"} count 1` + "\n",
		`servicebus_handler_execution_time_seconds{handler_name="message:math.add",success="true"} count 3` + "\n",
		`servicebus_handler_execution_time_seconds{handler_name="audit",success="true"} count 4` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "audit: "); n != 4 {
		t.Errorf("%d audit lines, want 4 (3 sends, 1 call):\n%s", n, text)
	}
}
