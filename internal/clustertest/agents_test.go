//go:build cluster

package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"gopkg.in/yaml.v3"

	servicebus "github.com/go-servicebus/servicebus"
)

const (
	helperConfigEnv = "CLUSTERTEST_AGENT_CONFIG" // YAML of the agent
	helperNameEnv   = "CLUSTERTEST_AGENT_NAME"   // what its replies and lines call it
	helperWorkEnv   = "CLUSTERTEST_AGENT_WORK"   // its work time, a Go duration; default workTime
)

// workTime is how long a service works on one call or message: long enough
// that an agent always has work in hand when it is killed.
const workTime = 20 * time.Millisecond

// payload is what the tests send: a sequence number unique per kind.
type payload struct {
	Seq int `json:"seq"`
}

// TestHelperAgentProcess is not a test: it is an agent process that the
// cluster tests start and kill. It serves work.call (RPC, answers its own
// name) and work.message, printing "GOT KIND SEQ ID REDELIVERED" when a
// service starts and "DONE KIND SEQ ID" when it returns (the ack follows).
// It closes the agent and exits when its stdin closes.
func TestHelperAgentProcess(t *testing.T) {
	path := os.Getenv(helperConfigEnv)
	if path == "" {
		t.Skip("helper process of the cluster tests")
	}
	name := os.Getenv(helperNameEnv)
	work := workTime
	if d, err := time.ParseDuration(os.Getenv(helperWorkEnv)); err == nil {
		work = d
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	fail := func(err error) {
		say("ERROR %v", err)
		os.Exit(1)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		fail(err)
	}
	agent, err := servicebus.NewAgent(cfg, stderrLog{name: name, say: say})
	if err != nil {
		fail(err)
	}
	serve := func(kind string, req *servicebus.Request) error {
		var p payload
		if err := req.Decode(&p); err != nil {
			return err
		}
		say("GOT %s %d %s %v", kind, p.Seq, req.ID, req.Meta.Redelivered)
		time.Sleep(work)
		say("DONE %s %d %s", kind, p.Seq, req.ID)
		return nil
	}
	agent.AddRPCService("work", "call", func(ctx context.Context, req *servicebus.Request) (any, error) {
		return name, serve("call", req)
	})
	agent.AddMessageService("work", "message", func(ctx context.Context, req *servicebus.Request) error {
		return serve("message", req)
	})
	if err := agent.Start(context.Background()); err != nil {
		fail(err)
	}
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	consuming := time.NewTicker(20 * time.Millisecond)
	for agent.Consuming() < len(cfg.Hosts) {
		select {
		case <-consuming.C:
		case <-stdinClosed:
			os.Exit(1)
		}
	}
	consuming.Stop()
	say("CONSUMING")
	<-stdinClosed
	if err := agent.Close(); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// stderrLog writes an agent process's error and info records on stderr
// (the test's), so that a failing cluster test shows what its agents saw.
// Info records are connection events (connected, lost, consuming, consumer
// gone), a few per reconnect, never one per message.
type stderrLog struct {
	watermill.NopLogger
	name   string
	fields watermill.LogFields
	// say writes a line to the test (stdout): "COMPETING" for each
	// competing-consumers notice, so that a test can count them in order
	// with CONSUMING.
	say func(format string, args ...any)
}

func (l stderrLog) Error(msg string, err error, fields watermill.LogFields) {
	fmt.Fprintf(os.Stderr, "%s %s: ERROR %s: %v %v\n", time.Now().Format("15:04:05.000"), l.name, msg, err, l.fields.Add(fields))
}

func (l stderrLog) Info(msg string, fields watermill.LogFields) {
	fmt.Fprintf(os.Stderr, "%s %s: %s %v\n", time.Now().Format("15:04:05.000"), l.name, msg, l.fields.Add(fields))
	if strings.Contains(msg, "competing consumers") {
		l.say("COMPETING")
	}
}

func (l stderrLog) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return stderrLog{name: l.name, fields: l.fields.Add(fields), say: l.say}
}

// loadConfig reads the YAML a user would write over the defaults, without
// the SERVICEBUS_* environment of whoever runs the tests.
func loadConfig(path string) (servicebus.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return servicebus.Config{}, err
	}
	cfg := servicebus.DefaultConfig()
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return servicebus.Config{}, err
	}
	return cfg, cfg.Validate()
}

// writeConfig writes the YAML of a deployment on the cluster: every node a
// host, durable topology (quorum node queue), daily tokens, concurrency
// services at a time in each agent; extra lines of YAML are added.
func writeConfig(t *testing.T, hosts []string, node string, concurrency int, extra ...string) string {
	t.Helper()
	yaml := fmt.Sprintf(`hosts: [%s]
node_name: %s
topology: durable
secret_token: cluster test secret
concurrency: %d
`, strings.Join(hosts, ", "), node, concurrency) + strings.Join(extra, "")
	path := t.TempDir() + "/servicebus.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// agentProc is an agent in a process of its own.
type agentProc struct {
	index  int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	ready  chan error // one value: nil on CONSUMING, else why not
	read   chan struct{}
	killed bool
	// competing counts the agent's competing-consumers notices (COMPETING).
	competing atomic.Int32
}

// startAgents starts n agent processes at once, waits until each consumes
// on every node, and stops them at cleanup. Their lines go to book. env
// is added to their environment.
func startAgents(t *testing.T, n int, configPath string, book *ledger, env ...string) []*agentProc {
	t.Helper()
	procs := make([]*agentProc, n)
	for i := range procs {
		procs[i] = startAgent(t, i, configPath, book, env...)
	}
	timeout := time.After(2 * time.Minute)
	for _, p := range procs {
		select {
		case err := <-p.ready:
			if err != nil {
				t.Fatalf("agent %d: %v", p.index, err)
			}
		case <-timeout:
			t.Fatalf("agent %d not consuming on every node within 2 minutes", p.index)
		}
	}
	return procs
}

func startAgent(t *testing.T, i int, configPath string, book *ledger, env ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentProcess$", "-test.timeout=9m")
	cmd.Env = append(os.Environ(), helperConfigEnv+"="+configPath, fmt.Sprintf("%s=agent-%d", helperNameEnv, i))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	// The agent dies with the test binary, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{index: i, cmd: cmd, stdin: stdin, ready: make(chan error, 1), read: make(chan struct{})}
	t.Cleanup(p.stop)
	go p.readLines(stdout, book)
	return p
}

func (p *agentProc) readLines(stdout io.Reader, book *ledger) {
	defer close(p.read)
	ready := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "CONSUMING" && !ready:
			ready = true
			p.ready <- nil
		case strings.HasPrefix(line, "ERROR") && !ready:
			ready = true
			p.ready <- fmt.Errorf("%s", line)
		case line == "COMPETING":
			p.competing.Add(1)
		default:
			book.record(p.index, line)
		}
	}
	if !ready {
		p.ready <- fmt.Errorf("process ended before consuming")
	}
}

// kill ends the agent with SIGKILL, as a crash would, and returns once every
// line it wrote before dying is in the ledger.
func (p *agentProc) kill() {
	if p.killed {
		return
	}
	p.killed = true
	_ = p.cmd.Process.Kill()
	<-p.read // Wait closes the pipe: read it to the end first
	_ = p.cmd.Wait()
}

// stop closes the agent's stdin, so it drains and exits; after 30 s it is killed.
func (p *agentProc) stop() {
	if p.killed {
		return
	}
	_ = p.stdin.Close()
	select {
	case <-p.read:
	case <-time.After(30 * time.Second):
	}
	p.kill()
}
