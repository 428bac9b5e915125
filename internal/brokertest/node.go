package brokertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long StartNode and Start wait for a node to accept
// AMQP connections. Boot takes ~4 s on an idle machine, much more on a busy
// 2-core one.
const StartTimeout = 90 * time.Second

// TLSListener asks a node for an amqps listener. The files are copied into
// the node's directory, so they need only be readable by the test.
type TLSListener struct {
	Port       int // 0 = a free port
	CACertFile string
	CertFile   string
	KeyFile    string
	// VerifyPeer asks clients for a certificate (ssl_options.verify = verify_peer).
	VerifyPeer bool
	// FailIfNoPeerCert rejects clients without one (ssl_options.fail_if_no_peer_cert).
	FailIfNoPeerCert bool
}

// NodeOptions configures a throwaway node.
type NodeOptions struct {
	Name        string // "" = generated (sbtest-XXXXXXXX@localhost); "@localhost" is added when missing
	Port        int    // AMQP port; 0 = a free port
	TLS         *TLSListener
	ExtraConfig []string // extra rabbitmq.conf lines
}

// Node is a throwaway RabbitMQ node on 127.0.0.1.
type Node struct {
	name     string
	dir      string
	port     int
	tlsPort  int
	distPort int
	bin      string
	home     string
	cred     *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd     // the rabbitmq-server script; nil when not started
	exited chan struct{} // closed once cmd has exited
}

// StartNode starts a throwaway node, waits until it accepts AMQP
// connections, and registers a cleanup that ends it and removes its
// directories whatever the test's outcome. Without RabbitMQ installed or the
// rights to run it, the test fails in CI (CI set, not "false" or "0") and is skipped otherwise.
func StartNode(t testing.TB, opts NodeOptions) *Node {
	t.Helper()
	n, err := startNode(t, requireMachine(t), opts)
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	return n
}

// startNode is StartNode without failing the test, so that several nodes can
// boot at once from goroutines of their own. Every node it made, booted or
// not, has its cleanup registered.
func startNode(t testing.TB, m machine, opts NodeOptions) (*Node, error) {
	for attempt := 1; ; attempt++ {
		n, err := newNode(m, opts)
		if err != nil {
			return nil, fmt.Errorf("prepare node: %w", err)
		}
		if err := n.start(); err != nil {
			t.Cleanup(func() { n.cleanup(t) })
			return nil, fmt.Errorf("start node %s: %w", n.name, err)
		}
		err = n.waitReady(StartTimeout)
		if err == nil {
			t.Cleanup(func() { n.cleanup(t) })
			t.Logf("brokertest: node %s up at %s (dir %s)", n.name, n.URL(), n.dir)
			return n, nil
		}
		// A free port can be taken by another process between our check and
		// the node's bind: the node exits at once. Try again on new ports.
		if errors.Is(err, errExited) && attempt < startAttempts {
			t.Logf("brokertest: %v; trying again on new ports", err)
			n.kill()
			_ = os.RemoveAll(n.dir)
			continue
		}
		t.Cleanup(func() { n.cleanup(t) })
		return nil, err
	}
}

// startAttempts bounds how often StartNode tries a node that exits at boot.
const startAttempts = 3

// errExited means the node's process ended while it was expected to boot.
var errExited = errors.New("node exited while starting")

// Name is the Erlang node name, NAME@localhost.
func (n *Node) Name() string { return n.name }

// Port is the AMQP port.
func (n *Node) Port() int { return n.port }

// URL is amqp://guest:guest@127.0.0.1:PORT/.
func (n *Node) URL() string { return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.port) }

// TLSPort is the amqps port, 0 without a TLS listener.
func (n *Node) TLSPort() int { return n.tlsPort }

// TLSURL is amqps://guest:guest@127.0.0.1:TLSPORT/, "" without a TLS listener.
func (n *Node) TLSURL() string {
	if n.tlsPort == 0 {
		return ""
	}
	return fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", n.tlsPort)
}

// Dir is the node's directory (config, data, logs).
func (n *Node) Dir() string { return n.dir }

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Start starts a stopped or killed node again on the same ports with its
// data, and waits until it is ready.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("brokertest: node %s is already running", n.name)
	}
	if err := n.start(); err != nil {
		t.Fatalf("brokertest: restart node %s: %v", n.name, err)
	}
	n.WaitReady(t, StartTimeout)
}

// Stop shuts the node down cleanly (SIGTERM to the Erlang VM) and waits
// until it is gone; after a minute it kills it.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	if pid := n.beamPid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	} else {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-exited:
		n.waitPortClosed(10 * time.Second)
	case <-time.After(time.Minute):
		t.Logf("brokertest: node %s did not stop within a minute; killing it", n.name)
		n.kill()
	}
}

// Kill ends the node's Erlang VM with SIGKILL, as a crash would, without
// going through epmd or rabbitmqctl, and waits until its ports are closed.
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	if !n.kill() {
		t.Fatalf("brokertest: node %s did not die after SIGKILL", n.name)
	}
}

// WaitReady waits until the node accepts AMQP connections (and TCP
// connections on its TLS port), failing the test after timeout or if the
// node's process exits.
func (n *Node) WaitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := n.waitReady(timeout); err != nil {
		t.Fatalf("brokertest: %v", err)
	}
}

func (n *Node) waitReady(timeout time.Duration) error {
	n.mu.Lock()
	exited := n.exited
	n.mu.Unlock()
	if exited == nil {
		return fmt.Errorf("node %s was never started", n.name)
	}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%w: %s; log tail:\n%s", errExited, n.name, n.logTail(40))
		default:
		}
		err := ping(n.URL(), 2*time.Second)
		if err == nil && n.tlsPort != 0 {
			var c net.Conn
			c, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.tlsPort), 2*time.Second)
			if c != nil {
				c.Close()
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not ready within %s: %v; log tail:\n%s", n.name, timeout, err, n.logTail(40))
		}
		select {
		case <-exited:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Ctl runs rabbitmqctl -n NAME ARGS... against this node and returns its
// combined output.
func (n *Node) Ctl(args ...string) (string, error) {
	return n.cli("rabbitmqctl", args...)
}

// Queues runs rabbitmq-queues -n NAME ARGS... against this node and returns
// its combined output.
func (n *Node) Queues(args ...string) (string, error) {
	return n.cli("rabbitmq-queues", args...)
}

// cli runs one of RabbitMQ's command line tools against this node.
func (n *Node) cli(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.bin, tool), append([]string{"-n", n.name}, args...)...)
	cmd.Dir = n.dir
	cmd.Env = n.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s -n %s %s: %w: %s", tool, n.name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = os.Remove(n.pidFile())
	logf, err := os.OpenFile(filepath.Join(n.dir, "log", "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(n.bin, "rabbitmq-server"))
	cmd.Dir = n.dir
	cmd.Env = n.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig: if the test binary dies without cleaning up, the script
	// gets SIGTERM and stops the VM. Setpgid keeps ^C of the terminal away.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	n.cmd, n.exited = cmd, exited
	return nil
}

// kill SIGKILLs the VM, then the script, and waits for both and for the
// ports to close. It reports whether the node is gone.
func (n *Node) kill() bool {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return true
	}
	if pid := n.beamPid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		// The script should have returned once its VM died; end it and
		// whatever is left in its process group (not epmd: it has its own session).
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			return false
		}
	}
	return n.waitPortClosed(10 * time.Second)
}

// beamPid is the pid of the node's Erlang VM, 0 if it is not running: from
// the pid file, else the script's child.
func (n *Node) beamPid() int {
	if b, err := os.ReadFile(n.pidFile()); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && isBeam(pid) {
			return pid
		}
	}
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && isBeam(pid) {
			return pid
		}
	}
	return 0
}

func isBeam(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "beam")
}

// waitPortClosed waits until nothing accepts on the node's AMQP port.
func (n *Node) waitPortClosed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *Node) cleanup(t testing.TB) {
	if !n.kill() {
		t.Errorf("brokertest: node %s (dir %s) could not be killed", n.name, n.dir)
		return
	}
	if t.Failed() {
		t.Logf("brokertest: log tail of node %s:\n%s", n.name, n.logTail(30))
		if os.Getenv("SERVICEBUS_KEEP_NODES") != "" {
			t.Logf("brokertest: kept %s", n.dir)
			return
		}
	}
	if err := os.RemoveAll(n.dir); err != nil {
		t.Errorf("brokertest: remove %s: %v", n.dir, err)
	}
}

// logTail is the end of the node's log files, for failure messages.
func (n *Node) logTail(lines int) string {
	var out strings.Builder
	files, _ := filepath.Glob(filepath.Join(n.dir, "log", "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(ls) > lines {
			ls = ls[len(ls)-lines:]
		}
		fmt.Fprintf(&out, "== %s\n%s\n", f, strings.Join(ls, "\n"))
	}
	return out.String()
}

const baseDir = "/tmp"

var sweepOnce sync.Once

// sweepStale kills the nodes and removes the directories of test binaries
// that died without cleaning up.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(baseDir, "sbtest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner == os.Getpid() || !errors.Is(syscall.Kill(owner, 0), syscall.ESRCH) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, "node.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			if pid > 0 && isBeam(pid) && bytes.Contains(env, []byte("RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"))) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				time.Sleep(200 * time.Millisecond)
			}
		}
		_ = os.RemoveAll(dir)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
