package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

const testSecret = "cli-test-secret"

// sum is math.add of the test agent: the sum of a list.
func sum(_ context.Context, nums []float64) (float64, error) {
	var s float64
	for _, n := range nums {
		s += n
	}
	return s, nil
}

// testAgent is an in-test servicebus agent on a node of a random name.
type testAgent struct {
	node     string
	messages atomic.Int64 // math.log messages handled
}

// startAgent runs an agent with math.add (sum of a list), math.fail (a
// service error), math.slow (sleeps until cancelled or 5 s) and the message
// service math.log; it is closed and its queue deleted when the test ends.
func startAgent(t *testing.T, url string) *testAgent {
	t.Helper()
	ta := &testAgent{node: testkit.UniqueName("cli-test")}
	agent, err := router.NewAgent(router.Config{
		Endpoints:    []broker.Endpoint{{URL: url}},
		NodeName:     ta.node,
		Tokens:       token.NewDailyTokens(testSecret, time.UTC),
		DrainTimeout: 5 * time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	agent.AddRPCService("math", "add", router.RPC(sum))
	agent.AddRPCService("math", "fail", func(context.Context, *router.Request) (any, error) {
		return nil, errors.New("this service always fails")
	})
	agent.AddRPCService("math", "slow", func(ctx context.Context, _ *router.Request) (any, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return "late", nil
		}
	})
	agent.AddMessageService("math", "log", func(context.Context, *router.Request) error {
		ta.messages.Add(1)
		return nil
	})
	// The node queue outlives the agent (durable, shared): deleted after
	// the agent closed (cleanups run last first).
	testkit.DeleteQueues(t, url, ta.node)
	if err := agent.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	testkit.Eventually(t, 15*time.Second, "agent consuming", func() bool { return agent.Consuming() == 1 })
	return ta
}

func TestCallPrintsResult(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	r := runCLI(t, brokerEnv(t, url, testSecret), "call", a.node+".math.add", "[1,2]")
	r.wantCode(t, exitOK)
	if r.stdout != "3\n" {
		t.Errorf("stdout %q, want \"3\\n\"", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr not empty: %q", r.stderr)
	}
}

func TestCallJSONPrintsIDAndResult(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	// Flags after the positional arguments work too.
	r := runCLI(t, brokerEnv(t, url, testSecret), "call", a.node+".math.add", `{"a":1}`, "--json")
	// {"a":1} does not decode into a list: a bad request, answered as an error.
	r.wantCode(t, exitRemote)

	r = runCLI(t, brokerEnv(t, url, testSecret), "call", "--json", a.node+".math.add", "[1.5, 2]")
	r.wantCode(t, exitOK)
	var out struct {
		ID     string          `json:"id"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	if out.ID == "" || string(out.Result) != "3.5" {
		t.Errorf("--json output %q: want an id and result 3.5", r.stdout)
	}
}

func TestCallServiceErrorExits1(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	for _, tc := range []struct{ target, want string }{
		{a.node + ".math.fail", "this service always fails"},
		{a.node + ".math.nope", "Cannot Find RPC Service: math.nope"},
	} {
		r := runCLI(t, brokerEnv(t, url, testSecret), "call", tc.target, "[]")
		r.wantCode(t, exitRemote)
		if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("stderr %q: want one line with %q", r.stderr, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	}
}

func TestCallUsageErrorsExit2(t *testing.T) {
	env := []string{"SERVICEBUS_SECRET_TOKEN=x", "SERVICEBUS_HOSTS=127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad JSON", []string{"call", "N.math.add", "[1,"}, "params are not JSON"},
		{"no target", []string{"call"}, "missing NODE.CATEGORY.NAME"},
		{"bad target", []string{"call", "math.add", "[]"}, "malformed target"},
		{"extra argument", []string{"call", "N.math.add", "1", "2"}, "too many arguments"},
		{"unknown flag", []string{"call", "--bogus", "N.math.add"}, "bogus"},
		{"bad config value", []string{"call", "--token-mode", "weird", "N.math.add"}, "token_mode"},
		{"missing config file", []string{"call", "--config", "/nonexistent/sb.yaml", "N.math.add"}, "nonexistent"},
		{"send bad JSON", []string{"send", "N.math.log", "{"}, "params are not JSON"},
		{"ping two nodes", []string{"ping", "A", "B"}, "exactly one NODE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, tc.args...)
			r.wantCode(t, exitUsage)
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q: want one line with %q", r.stderr, tc.want)
			}
		})
	}
}

func TestCallUnknownNodeExits3(t *testing.T) {
	url := testURL(t)
	start := time.Now()
	r := runCLI(t, brokerEnv(t, url, testSecret), "call", "--timeout", "20s", testkit.UniqueName("no-such-node")+".math.add", "[1,2]")
	r.wantCode(t, exitUnavailable)
	if !strings.Contains(r.stderr, "no queue serves that node") {
		t.Errorf("stderr %q", r.stderr)
	}
	// No route comes back at once, not after the timeout.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
}

func TestCallTimeoutExits3(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	r := runCLI(t, brokerEnv(t, url, testSecret), "call", "--timeout", "1s", a.node+".math.slow")
	r.wantCode(t, exitUnavailable)
	// The sender's own deadline or the agent's deadline_exceeded answer,
	// whichever comes first: both are a timeout.
	if !strings.Contains(r.stderr, "timed out") && !strings.Contains(r.stderr, "deadline") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestCallNoBrokerExits3(t *testing.T) {
	env := []string{"SERVICEBUS_SECRET_TOKEN=x"}
	r := runCLI(t, env, "call", "--hosts", "127.0.0.1:1", "--timeout", "1s", "N.math.add", "[1,2]")
	r.wantCode(t, exitUnavailable)
}

func TestFlagsOverrideEnvironmentOverridesConfigFile(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	env := brokerEnv(t, url, testSecret)
	var good string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "SERVICEBUS_HOSTS="); ok {
			good = v
		}
	}
	cfgFile := filepath.Join(t.TempDir(), "sb.yaml")
	if err := os.WriteFile(cfgFile, []byte("hosts: [127.0.0.1:1]\nsecret_token: wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The environment's secret beats the file's; the file's bad host is
	// replaced by the environment's.
	r := runCLI(t, append(env, "SERVICEBUS_CONFIG="+cfgFile), "call", a.node+".math.add", "[2,2]")
	r.wantCode(t, exitOK)
	// A flag beats the environment: a bad host given by flag fails ...
	r = runCLI(t, env, "call", "--config", cfgFile, "--hosts", "127.0.0.1:1", "--timeout", "1s", a.node+".math.add", "[2,2]")
	r.wantCode(t, exitUnavailable)
	// ... and the good host by flag wins over a bad one in the environment.
	env = append(env, "SERVICEBUS_HOSTS=127.0.0.1:1")
	r = runCLI(t, env, "call", "--hosts", good, a.node+".math.add", "[2,2]")
	r.wantCode(t, exitOK)
	if r.stdout != "4\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestSendExits0OnceConfirmed(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	r := runCLI(t, brokerEnv(t, url, testSecret), "send", a.node+".math.log", `{"x":1}`)
	r.wantCode(t, exitOK)
	testkit.Eventually(t, 10*time.Second, "message handled", func() bool { return a.messages.Load() == 1 })

	r = runCLI(t, brokerEnv(t, url, testSecret), "send", testkit.UniqueName("no-such-node")+".math.log", "1")
	r.wantCode(t, exitUnavailable)
}

func TestPingPrintsRoundTrip(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	r := runCLI(t, brokerEnv(t, url, testSecret), "ping", a.node)
	r.wantCode(t, exitOK)
	if !strings.HasPrefix(r.stdout, "PONG from "+a.node+" in ") {
		t.Errorf("stdout %q", r.stdout)
	}

	r = runCLI(t, brokerEnv(t, url, testSecret), "ping", "--all", a.node)
	r.wantCode(t, exitOK)
	if !strings.Contains(r.stdout, ": PONG from "+a.node+" in ") || !strings.Contains(r.stdout, "1 of 1 brokers answered") {
		t.Errorf("stdout %q", r.stdout)
	}

	r = runCLI(t, brokerEnv(t, url, testSecret), "ping", testkit.UniqueName("no-such-node"))
	r.wantCode(t, exitUnavailable)
}

func TestBenchWritesJSONRows(t *testing.T) {
	url := testURL(t)
	out := filepath.Join(t.TempDir(), "bench.json")
	r := runCLI(t, []string{"SERVICEBUS_TEST_URL=" + url}, "bench", "--n", "20", "--concurrency", "1,2", "--json", out)
	r.wantCode(t, exitOK)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatalf("bench json: %v\n%s", err, data)
	}
	if len(rows) != 8 {
		t.Fatalf("%d rows, want 8 (2 modes x 2 impls x 2 concurrencies):\n%s", len(rows), data)
	}
	seen := map[string]bool{}
	for _, row := range rows {
		for _, k := range []string{"mode", "impl", "concurrency", "calls_per_s", "p50_us", "p99_us", "cpu_us_per_call", "caller"} {
			if _, ok := row[k]; !ok {
				t.Errorf("row %v has no %q", row, k)
			}
		}
		if row["calls_per_s"].(float64) <= 0 {
			t.Errorf("row %v: no throughput", row)
		}
		// Every call allocates on the caller side; an RPC also on the
		// server side, which send mode does not have.
		caller, _ := row["caller"].(map[string]any)
		if a, _ := caller["allocs_per_call"].(float64); a <= 0 {
			t.Errorf("row %v: no caller allocations", row)
		}
		server, hasServer := row["server"].(map[string]any)
		if hasServer != (row["mode"] == "rpc") {
			t.Errorf("row %v: server side present %v in mode %v", row, hasServer, row["mode"])
		}
		if a, _ := server["allocs_per_call"].(float64); hasServer && a <= 0 {
			t.Errorf("row %v: no server allocations", row)
		}
		seen[row["mode"].(string)+"/"+row["impl"].(string)] = true
	}
	for _, k := range []string{"rpc/amqp091", "rpc/servicebus", "send/amqp091", "send/servicebus"} {
		if !seen[k] {
			t.Errorf("no row for %s", k)
		}
	}
	if !strings.Contains(r.stdout, "ratio") || !strings.Contains(r.stderr, "bench rpc servicebus c=2") {
		t.Errorf("table or progress missing:\nstdout: %s\nstderr: %s", r.stdout, r.stderr)
	}
}

func TestBenchSoakPrintsSamplesAndAVerdict(t *testing.T) {
	url := testURL(t)
	out := filepath.Join(t.TempDir(), "soak.json")
	// Too short for a real warm-up, so judged with a tolerance no run can
	// miss: what is checked is that samples of both sides print and the
	// verdict follows. 1,000 calls take far longer than one 20 ms interval.
	r := runCLI(t, []string{"SERVICEBUS_TEST_URL=" + url}, "bench", "--soak", "--n", "1000", "--concurrency", "4",
		"--soak-interval", "20ms", "--soak-warmup", "0s", "--soak-tolerance", "1000", "--json", out)
	r.wantCode(t, exitOK)
	for _, want := range []string{"soak: rpc servicebus, 1000 calls at 4 callers", "caller RSS", "server RSS", "1000 calls in ", "after the warm-up", "server live heap", "flat: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in:\n%s", want, r.stdout)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Calls   int64 `json:"calls"`
		Samples []struct {
			Server *struct {
				Goroutines int `json:"goroutines"`
			} `json:"server"`
		} `json:"samples"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || rep.Calls != 1000 || len(rep.Samples) < 2 || rep.Samples[0].Server == nil || rep.Samples[0].Server.Goroutines == 0 {
		t.Errorf("soak json (%v):\n%s", err, data)
	}
}

func TestBenchSoakRefusesSeveralConcurrencies(t *testing.T) {
	r := runCLI(t, nil, "bench", "--soak", "--concurrency", "1,64")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "--soak takes one --concurrency") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestBenchRefusesABadTraceSample(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tracing", "--trace-sample", "0"}, "want a share of calls in (0, 1]"},
		{[]string{"--tracing", "--trace-sample", "1.5"}, "want a share of calls in (0, 1]"},
		{[]string{"--trace-sample", "0.5"}, "--trace-sample needs --tracing"},
	} {
		r := runCLI(t, nil, append([]string{"bench"}, c.args...)...)
		r.wantCode(t, exitUsage)
		if !strings.Contains(r.stderr, c.want) {
			t.Errorf("bench %v: stderr %q, want %q", c.args, r.stderr, c.want)
		}
	}
}
