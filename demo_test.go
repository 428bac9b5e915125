package servicebus_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

// The quick start as the README gives it: `make demo` (scripts/demo.sh) calls,
// sends to and pings the example agent, stops it, shows what a call says once
// the agent is gone, and leaves the node's queue on the broker, as the README
// says.
func TestQuickStartDemo(t *testing.T) {
	brokerURL := brokertest.RequireBroker(t)
	node := testkit.UniqueName("demo-test")
	testkit.DeleteQueues(t, brokerURL, node)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/demo.sh")
	cmd.Env = append(readmeEnv(t, brokerURL, node), "DEMO_NODE="+node, "SERVICEBUS_TEST_URL="+brokerURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"== servicebus call " + node + ".math.add '[1,2]'\n3\n",
		"PONG from " + node,
		"queue " + node + " has no consumer",
		"the queue " + node + " stays on the broker",
		"== demo passed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if n, _, err := testkit.QueueState(brokerURL, node); err != nil || n != 0 {
		t.Errorf("queue %s after the demo: %d consumers, %v; the README says it stays, unconsumed", node, n, err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "leaves the queue `NODE-01`") {
		t.Error("README.md does not say that make demo leaves the queue NODE-01")
	}
}
