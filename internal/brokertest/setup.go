package brokertest

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// machine is what running a node needs of this machine: RabbitMQ's scripts
// and the user rabbitmq to run them as.
type machine struct {
	bin      string
	home     string // user rabbitmq's home: its .erlang.cookie is the system node's
	uid, gid int
	cred     *syscall.Credential // nil when the test already runs as rabbitmq
}

// requireMachine finds RabbitMQ and the user rabbitmq; without them the test
// fails in CI (CI set, not "false" or "0") and is skipped otherwise.
func requireMachine(t testing.TB) machine {
	t.Helper()
	bin := os.Getenv("SERVICEBUS_RABBITMQ_BIN")
	if bin == "" {
		bin = "/usr/lib/rabbitmq/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "rabbitmq-server")); err != nil {
		unavailable(t, fmt.Sprintf("brokertest: RabbitMQ is not installed (%v)", err))
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		unavailable(t, fmt.Sprintf("brokertest: no user rabbitmq to run a node as (%v)", err))
	}
	m := machine{bin: bin, home: u.HomeDir}
	m.uid, _ = strconv.Atoi(u.Uid)
	m.gid, _ = strconv.Atoi(u.Gid)
	switch os.Getuid() {
	case 0:
		m.cred = &syscall.Credential{Uid: uint32(m.uid), Gid: uint32(m.gid)}
	case m.uid:
	default:
		unavailable(t, "brokertest: starting a node needs root or user rabbitmq")
	}
	sweepOnce.Do(sweepStale)
	return m
}

func newNode(m machine, opts NodeOptions) (*Node, error) {
	var err error
	n := &Node{bin: m.bin, home: m.home, cred: m.cred}
	id := randomHex(4)
	n.name = "sbtest-" + id + "@localhost"
	if opts.Name != "" {
		n.name = opts.Name
		if !strings.Contains(n.name, "@") {
			n.name += "@localhost"
		}
	}
	n.dir = filepath.Join(baseDir, "sbtest-"+id)
	if n.port = opts.Port; n.port == 0 {
		if n.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if n.distPort, err = freePort(); err != nil {
		return nil, err
	}
	for _, d := range []string{n.dir, filepath.Join(n.dir, "mnesia"), filepath.Join(n.dir, "log"), filepath.Join(n.dir, "tls")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	conf := []string{
		fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d", n.port),
		"log.console = false",
		"log.file.level = info",
	}
	if opts.TLS != nil {
		if n.tlsPort = opts.TLS.Port; n.tlsPort == 0 {
			if n.tlsPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		files := map[string]string{"ca.pem": opts.TLS.CACertFile, "cert.pem": opts.TLS.CertFile, "key.pem": opts.TLS.KeyFile}
		for dst, src := range files {
			if src == "" {
				return nil, fmt.Errorf("TLS listener needs CACertFile, CertFile and KeyFile")
			}
			if err := copyFile(src, filepath.Join(n.dir, "tls", dst)); err != nil {
				return nil, err
			}
		}
		verify := "verify_none"
		if opts.TLS.VerifyPeer {
			verify = "verify_peer"
		}
		conf = append(conf,
			fmt.Sprintf("listeners.ssl.default = 127.0.0.1:%d", n.tlsPort),
			"ssl_options.cacertfile = "+filepath.Join(n.dir, "tls", "ca.pem"),
			"ssl_options.certfile = "+filepath.Join(n.dir, "tls", "cert.pem"),
			"ssl_options.keyfile = "+filepath.Join(n.dir, "tls", "key.pem"),
			"ssl_options.verify = "+verify,
			"ssl_options.fail_if_no_peer_cert = "+strconv.FormatBool(opts.TLS.FailIfNoPeerCert),
		)
	}
	conf = append(conf, opts.ExtraConfig...)
	writes := map[string]string{
		"rabbitmq.conf":     strings.Join(conf, "\n") + "\n",
		"enabled_plugins":   "[].\n",
		"rabbitmq-env.conf": "",
		"owner":             strconv.Itoa(os.Getpid()) + "\n",
	}
	for name, content := range writes {
		if err := os.WriteFile(filepath.Join(n.dir, name), []byte(content), 0o640); err != nil {
			return nil, err
		}
	}
	if n.cred != nil {
		if err := chownTree(n.dir, m.uid, m.gid); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// env is the whole environment of the node's scripts: nothing of the test's
// environment (or /etc/rabbitmq/rabbitmq-env.conf) leaks in.
func (n *Node) env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + n.home, // its .erlang.cookie is the system node's
		"LANG=C.UTF-8",
		"LC_ALL=C.UTF-8",
		"RABBITMQ_NODENAME=" + n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT=" + strconv.Itoa(n.port),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(n.distPort),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE=" + filepath.Join(n.dir, "log"),
		"RABBITMQ_PID_FILE=" + n.pidFile(),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(n.dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(n.dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(n.dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE=" + filepath.Join(n.dir, "rabbitmq-env.conf"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_FLAGS=-kernel inet_dist_use_interface {127,0,0,1}",
	}
}

func (n *Node) pidFile() string { return filepath.Join(n.dir, "node.pid") }

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}
