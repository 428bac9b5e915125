package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// The tests run the built binary, as a user does. It is built once per test
// binary into a temporary directory.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// cliBinary builds cmd/servicebus once and returns its path.
func cliBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "servicebus-cli-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "servicebus")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cliResult is what one run of the binary did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args and extra environment (KEY=VALUE) under a
// deadline; SERVICEBUS_* variables of the test process are not passed on.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SERVICEBUS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("servicebus %v did not finish within the deadline; stderr: %s", args, res.stderr)
	}
	return res
}

func (r cliResult) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

// testURL is the broker of the integration tests. Without a broker the test
// is skipped, or fails in CI (CI set, not "false" or "0").
func testURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("SERVICEBUS_TEST_URL")
	if u == "" {
		u = "amqp://guest:guest@127.0.0.1:5672/"
	}
	conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		testkit.Unavailable(t, "no broker at SERVICEBUS_TEST_URL: "+err.Error())
	}
	conn.Close()
	return u
}

// brokerEnv is the SERVICEBUS_* environment that points the CLI at the test
// broker, with a daily token secret.
func brokerEnv(t *testing.T, rawURL, secret string) []string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	} else if v, err := url.PathUnescape(vhost); err == nil {
		vhost = v
	}
	return []string{
		"SERVICEBUS_HOSTS=" + u.Host,
		"SERVICEBUS_USER=" + u.User.Username(),
		"SERVICEBUS_PASSWORD=" + pass,
		"SERVICEBUS_VHOST=" + vhost,
		"SERVICEBUS_SECRET_TOKEN=" + secret,
		"SERVICEBUS_TOKEN_TIMEZONE=UTC",
	}
}

func TestHelpListsEveryCommand(t *testing.T) {
	r := runCLI(t, nil, "help")
	r.wantCode(t, exitOK)
	for _, c := range []string{"call", "send", "ping", "logd", "bench", "version"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("help does not list %q:\n%s", c, r.stdout)
		}
	}
}

func TestNoArgumentsIsUsageError(t *testing.T) {
	r := runCLI(t, nil)
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("stderr has no usage:\n%s", r.stderr)
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range []string{"call", "send", "ping", "logd", "bench", "version"} {
		t.Run(c, func(t *testing.T) {
			r := runCLI(t, nil, "help", c)
			r.wantCode(t, exitOK)
			if !strings.HasPrefix(r.stdout, "Usage: servicebus "+c) {
				t.Errorf("help %s:\n%s", c, r.stdout)
			}
			r2 := runCLI(t, nil, c, "--help")
			r2.wantCode(t, exitOK)
			if r2.stdout != r.stdout {
				t.Errorf("%s --help differs from help %s", c, c)
			}
		})
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	r := runCLI(t, nil, "frobnicate")
	r.wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestUnknownFlagIsUsageErrorOnOneLine(t *testing.T) {
	for _, c := range []string{"call", "send", "ping", "logd", "bench", "version"} {
		t.Run(c, func(t *testing.T) {
			r := runCLI(t, nil, c, "--no-such-flag")
			r.wantCode(t, exitUsage)
			if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no-such-flag") {
				t.Errorf("want one error line naming the flag, got:\n%s", r.stderr)
			}
		})
	}
}

func TestVersionPrintsGoVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	r.wantCode(t, exitOK)
	if !strings.HasPrefix(r.stdout, "servicebus ") || !strings.Contains(r.stdout, " go1.") {
		t.Errorf("version: %q", r.stdout)
	}
}

func TestVersionFromLinkerFlag(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "servicebus")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), "servicebus v9.8.7 ") {
		t.Errorf("version: %q", got)
	}
}

// The collector itself is tested in logd_test.go; this proves the built
// binary dispatches to it: it starts, takes a record, and a daemon's stop
// signal, SIGTERM, or Ctrl-C (SIGINT) ends it cleanly with exit 0.
func TestLogdRunsAndStopsCleanlyOnSIGTERMAndSIGINT(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			file, addr := filepath.Join(t.TempDir(), "app.log"), freeUDPAddr(t)
			cmd := exec.Command(cliBinary(t), "logd", "--listen", addr, "--file", file)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			p := startProcess(t, cmd)
			conn, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Datagrams sent before the collector listens are lost: resend
			// until one is written; then it also catches signals.
			testkit.Eventually(t, 15*time.Second, "record in the log file", func() bool {
				_, _ = conn.Write([]byte(`{"level":"info","msg":"hello from the cli test","time":"2026-01-02T03:04:05Z"}`))
				return fileHas(file, "hello from the cli test")
			})
			if err := p.stop(t, sig, 15*time.Second); err != nil {
				t.Fatalf("logd exited with %v; stderr: %s", err, stderr.String())
			}
		})
	}
}

// process is a command a test runs in the background; it is killed when
// the test ends if it still runs.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func startProcess(t *testing.T, cmd *exec.Cmd) *process {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// stop sends sig and returns how the command exited, failing the test when
// it still runs after within.
func (p *process) stop(t *testing.T, sig os.Signal, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		t.Fatalf("no exit within %s of %s", within, sig)
		return nil
	}
}
