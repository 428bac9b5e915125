package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// idleNode declares a node queue (compat topology) that nobody consumes, as
// an agent that stopped leaves behind, and deletes it when the test ends.
func idleNode(t *testing.T, url string) string {
	t.Helper()
	node := testkit.UniqueName("cli-idle")
	testkit.DeleteQueues(t, url, node)
	if err := (topology.Topology{}).DeclareNodeQueue(testkit.Channel(t, url), node); err != nil {
		t.Fatal(err)
	}
	return node
}

// readyMessages is the ready count of queue, -1 when it cannot be read.
func readyMessages(url, queue string) int {
	_, ready, err := testkit.QueueState(url, queue)
	if err != nil {
		return -1
	}
	return ready
}

func oneLineWith(t *testing.T, stream, what string, wants ...string) {
	t.Helper()
	if strings.Count(stream, "\n") != 1 {
		t.Errorf("%s: want exactly one line, got:\n%s", what, stream)
	}
	for _, w := range wants {
		if !strings.Contains(stream, w) {
			t.Errorf("%s %q does not contain %q", what, stream, w)
		}
	}
}

func TestDurationFlagTakesTheConfigForms(t *testing.T) {
	for text, want := range map[string]time.Duration{
		"5": 5 * time.Second, "2.5": 2500 * time.Millisecond, "1.5s": 1500 * time.Millisecond,
		"500ms": 500 * time.Millisecond, " 1m ": time.Minute,
	} {
		var f durationFlag
		if err := f.Set(text); err != nil || f.d != want {
			t.Errorf("--timeout %q = %v, %v; want %v", text, f.d, err, want)
		}
	}
	for _, text := range []string{"soon", "", "0", "-1", "5 s", "NaN"} {
		var f durationFlag
		if err := f.Set(text); err == nil {
			t.Errorf("--timeout %q accepted as %v", text, f.d)
		}
	}
}

func TestJSONRequested(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--json", "N.a.b"}, true},
		{[]string{"N.a.b", "-json"}, true},
		{[]string{"--json=true"}, true},
		{[]string{"--json=false"}, false},
		{[]string{"N.a.b", "--", "--json"}, false},
		{[]string{"N.a.b"}, false},
	} {
		if got := jsonRequested(tc.args); got != tc.want {
			t.Errorf("jsonRequested(%q) = %v", tc.args, got)
		}
	}
}

func TestHelpHelpPrintsTheHelpOfHelp(t *testing.T) {
	r := runCLI(t, nil, "help", "help")
	r.wantCode(t, exitOK)
	if !strings.HasPrefix(r.stdout, "Usage: servicebus help [COMMAND]") || r.stderr != "" {
		t.Errorf("help help:\nstdout %q\nstderr %q", r.stdout, r.stderr)
	}
	if r2 := runCLI(t, nil, "help", "--help"); r2.stdout != r.stdout || r2.code != exitOK {
		t.Errorf("help --help differs from help help: %q", r2.stdout)
	}
}

// A call that times out on a queue nobody consumes: --timeout in plain
// seconds, exit 3, one line that says what the queue shows.
func TestCallTimeoutInPlainSecondsSaysTheQueueHasNoConsumer(t *testing.T) {
	url := testURL(t)
	node := idleNode(t, url)
	r := runCLI(t, brokerEnv(t, url, testSecret), "call", "--timeout", "1", node+".math.add", "[1,2]")
	r.wantCode(t, exitUnavailable)
	oneLineWith(t, r.stderr, "stderr", "timed out", "queue "+node+" has no consumer", "is its agent running?")
}

// Ctrl-C during a call ends it with exit 130 (SIGTERM: 143) and one line.
func TestSignalDuringCallExits128PlusSignal(t *testing.T) {
	url := testURL(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, 130, "SIGINT"}, {syscall.SIGTERM, 143, "SIGTERM"}} {
		t.Run(tc.name, func(t *testing.T) {
			node := idleNode(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, cliBinary(t), "call", "--timeout", "50", node+".math.add", "[1,2]")
			cmd.Env = brokerEnv(t, url, testSecret)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			p := startProcess(t, cmd)
			// The call is in flight once its message waits in the queue.
			testkit.Eventually(t, 20*time.Second, "the call in the queue", func() bool { return readyMessages(url, node) >= 1 })
			err := p.stop(t, tc.sig, 20*time.Second)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
				t.Fatalf("exit %v, want code %d; stderr: %s", err, tc.code, stderr.String())
			}
			oneLineWith(t, stderr.String(), "stderr", "servicebus call: interrupted ("+tc.name+")")
		})
	}
}

// With --json every failure is one JSON object on stdout and nothing on
// stderr; the exit code is unchanged.
func TestCallJSONErrorsAreObjectsOnStdout(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	env := brokerEnv(t, url, testSecret)
	for _, tc := range []struct {
		name string
		args []string
		exit int
		code string
		text string
	}{
		{"service error", []string{a.node + ".math.fail", "[]"}, exitRemote, "service_error", "this service always fails"},
		{"no route", []string{testkit.UniqueName("cli-nobody") + ".math.add", "[]"}, exitUnavailable, "no_route", "is its agent running?"},
		{"timeout", []string{"--timeout", "0.5", idleNode(t, url) + ".math.add", "[]"}, exitUnavailable, "timeout", "has no consumer"},
		{"bad params", []string{a.node + ".math.add", "[1,"}, exitUsage, "usage", "params are not JSON"},
		{"bad config", []string{"--topology", "fancy", a.node + ".math.add"}, exitUsage, "usage", `--topology: topology: "fancy"`},
		{"bad flag", []string{"--bogus", a.node + ".math.add"}, exitUsage, "usage", "bogus"},
		{"bad timeout", []string{"--timeout", "soon", a.node + ".math.add"}, exitUsage, "usage", "not a duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, env, append([]string{"call", "--json"}, tc.args...)...)
			r.wantCode(t, tc.exit)
			var out struct {
				Error string `json:"error"`
				Code  string `json:"code"`
			}
			dec := json.NewDecoder(strings.NewReader(r.stdout))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&out); err != nil || strings.Count(r.stdout, "\n") != 1 {
				t.Fatalf("stdout %q is not one JSON object: %v", r.stdout, err)
			}
			if out.Code != tc.code || !strings.Contains(out.Error, tc.text) {
				t.Errorf("got %+v, want code %q and an error with %q", out, tc.code, tc.text)
			}
			if r.stderr != "" {
				t.Errorf("stderr not empty: %q", r.stderr)
			}
		})
	}
}

// A call with the wrong secret exits 1 (the agent answered), saying so in
// one line with a hint at the two settings that must match.
func TestCallWrongSecretHintsAtSecretAndTokenMode(t *testing.T) {
	url := testURL(t)
	a := startAgent(t, url)
	r := runCLI(t, brokerEnv(t, url, "not-the-secret"), "call", a.node+".math.add", "[1,2]")
	r.wantCode(t, exitRemote)
	oneLineWith(t, r.stderr, "stderr", "Token not valid!", "secret_token and token_mode must be the agent's")
}

// A sender whose topology does not match the exchange's fails its set-up at
// every reconnect: without --verbose that is still one line, with the cause.
func TestTopologyMismatchIsOneLineWithTheCause(t *testing.T) {
	url := testURL(t)
	exchange := testkit.UniqueName("cli-compat-exchange")
	conn, ch := testkit.Dial(t, url)
	defer conn.Close()
	if err := (topology.Topology{Exchange: exchange}).DeclareExchange(ch); err != nil {
		t.Fatal(err)
	}
	defer ch.ExchangeDelete(exchange, false, false)
	env := append(brokerEnv(t, url, testSecret), "SERVICEBUS_RECONNECT_MAX=0.1")
	r := runCLI(t, env, "call", "--exchange", exchange, "--topology", "durable", "--timeout", "3", "N.math.add", "[1]")
	r.wantCode(t, exitUnavailable)
	oneLineWith(t, r.stderr, "stderr", "servicebus call: ", "PRECONDITION_FAILED", "inequivalent arg 'durable'")

	r = runCLI(t, env, "call", "--verbose", "--exchange", exchange, "--topology", "durable", "--timeout", "3", "N.math.add", "[1]")
	if !strings.Contains(r.stderr, `level=error msg="Broker set-up failed"`) {
		t.Errorf("--verbose does not log the set-up failures:\n%s", r.stderr)
	}
}

// All config problems in one line; an unknown SERVICEBUS_* variable is a
// warning with the nearest key, shown once, and the call still runs.
func TestConfigErrorsAllAtOnceAndUnknownVariablesWarned(t *testing.T) {
	r := runCLI(t, []string{"SERVICEBUS_SECRET_TOKEN=x", "SERVICEBUS_CONCURRENCY=abc", "SERVICEBUS_PORT=-1", "SERVICEBUS_TOPOLOGY=fancy"},
		"call", "N.math.add", "[1]")
	r.wantCode(t, exitUsage)
	oneLineWith(t, r.stderr, "stderr", "SERVICEBUS_CONCURRENCY", "SERVICEBUS_PORT", "SERVICEBUS_TOPOLOGY")

	url := testURL(t)
	a := startAgent(t, url)
	r = runCLI(t, append(brokerEnv(t, url, testSecret), "SERVICEBUS_FOO=1"), "call", a.node+".math.add", "[1,2]")
	r.wantCode(t, exitOK)
	oneLineWith(t, r.stderr, "stderr", "servicebus call: warning: environment variable SERVICEBUS_FOO is not a servicebus setting", "(nearest: SERVICEBUS_PORT)")
}

// The quiet logger shows a warning once, holds back errors, and the final
// line names what it held back.
func TestQuietLoggerWarnsOnceAndTheFinalLineCarriesHeldErrors(t *testing.T) {
	var stderr bytes.Buffer
	log := newQuietLog("call", false, &stderr)
	for range 3 {
		log.With(nil).Error("TLS certificate verification is OFF", nil, map[string]any{"broker": "amqps://h:5671/"})
		log.Error("Broker set-up failed", errors.New("PRECONDITION_FAILED - inequivalent arg"), nil)
	}
	log.Info("Broker connected", nil)
	if got := stderr.String(); got != "servicebus call: warning: TLS certificate verification is OFF broker=amqps://h:5671/\n" {
		t.Errorf("quiet log printed %q", got)
	}
	stderr.Reset()
	code := reporter{cmd: "call", stderr: &stderr, log: log}.fail(rpc.ErrUnavailable)
	if code != exitUnavailable {
		t.Errorf("code %d", code)
	}
	oneLineWith(t, stderr.String(), "final line", "no broker available", "(PRECONDITION_FAILED - inequivalent arg)")
}
