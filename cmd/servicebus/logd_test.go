package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/udplog"
)

const logdHelperEnv = "SERVICEBUS_LOGD_HELPER_ARGS"

// TestLogdHelperProcess is not a test: it is the logd process the tests
// below start (this test binary, re-run with logdHelperEnv set).
func TestLogdHelperProcess(t *testing.T) {
	args, ok := os.LookupEnv(logdHelperEnv)
	if !ok {
		t.Skip("helper process only")
	}
	os.Exit(runLogd(strings.Split(args, "\n"), os.Stdout, os.Stderr))
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func fileHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Contains(b, []byte(s))
}

// startLogd runs `servicebus logd` as a child process (TestLogdHelperProcess)
// on a free UDP port, writing to file with a pid file in a temporary
// directory, with args added, waits for its pid file and dials it. The
// process is killed and the client closed when the test ends.
func startLogd(t *testing.T, args ...string) (p *process, c *udplog.Client, stderr *bytes.Buffer, file, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	addr := freeUDPAddr(t)
	file, pidFile = filepath.Join(dir, "app.log"), filepath.Join(dir, "logd.pid")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLogdHelperProcess$")
	cmd.Env = append(os.Environ(), logdHelperEnv+"="+strings.Join(append([]string{
		"--listen", addr, "--file", file, "--pidfile", pidFile}, args...), "\n"))
	stderr = new(bytes.Buffer)
	cmd.Stderr = stderr
	p = startProcess(t, cmd)
	testkit.Eventually(t, 20*time.Second, "pid file", func() bool { return fileHas(pidFile, "\n") })
	c, err := udplog.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c, stderr, file, pidFile
}

// logd writes records to its file, reopens it on SIGHUP (logrotate moved
// it), and writes everything and exits 0 on SIGTERM, removing its pid file.
func TestLogdReopensOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	p, c, stderr, file, pidFile := startLogd(t, "--format", "text")
	cmd := p.cmd
	c.Send([]byte(`{"level":"info","msg":"before rotation","pid":11}`))
	testkit.Eventually(t, 10*time.Second, "first record in the file", func() bool { return fileHas(file, "PID:11]INFO:before rotation") })

	if err := os.Rename(file, file+".1"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "file reopened", func() bool { _, err := os.Stat(file); return err == nil })
	c.Send([]byte(`{"level":"error","msg":"after rotation","pid":12}`))
	c.Send([]byte(`not json`))
	c.Send([]byte(`{"level":"warning","msg":"last","pid":13}`))
	if err := p.stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("logd exit: %v\n%s", err, stderr.String())
	}
	old, _ := os.ReadFile(file + ".1")
	cur, _ := os.ReadFile(file)
	if strings.Count(string(old), "\n") != 1 || !strings.Contains(string(old), "before rotation") {
		t.Errorf("moved file: %q", old)
	}
	if !strings.Contains(string(cur), "PID:12]ERROR:after rotation\n") || !strings.Contains(string(cur), "PID:13]WARNING:last\n") || strings.Count(string(cur), "\n") != 2 {
		t.Errorf("reopened file: %q", cur)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
	if !strings.Contains(stderr.String(), "reopened") {
		t.Errorf("no reopen logged:\n%s", stderr.String())
	}
}

func TestLogdUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--format", "xml"},
		{"--keep", "0"},
		{"--max-size", "lots"},
		{"--listen", "nohost:notaport"},
		{"--rcvbuf", "0"},
		{"extra"},
		{"--no-such-flag"},
	} {
		var out, errb bytes.Buffer
		if code := runLogd(args, &out, &errb); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
		if !strings.Contains(errb.String(), "servicebus logd:") {
			t.Errorf("%q: stderr %q", args, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := runLogd([]string{"--help"}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "pidfile") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
}

func TestLogdCannotStartOnBusyAddress(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out, errb bytes.Buffer
	code := runLogd([]string{"--listen", c.LocalAddr().String(), "--file", filepath.Join(t.TempDir(), "x.log")}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "address already in use") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "4k": 4096, "16M": 16 << 20, "1G": 1 << 30, "2MB": 2 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"", "-1", "x", "1T", "99999999999G"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// logd --metrics-addr serves the collector's counters over HTTP, in the
// Prometheus text format, with /healthz and /readyz.
func TestLogdServesMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	p, c, stderr, _, _ := startLogd(t, "--metrics-addr", httpAddr)
	c.Send([]byte(`{"level":"info","msg":"counted","pid":11}`))
	c.Send([]byte(`not json`))
	base := "http://" + httpAddr
	var families map[string]*dto.MetricFamily
	testkit.Eventually(t, 10*time.Second, "one record written and one bad datagram counted", func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		if families, err = p.TextToMetricFamilies(resp.Body); err != nil {
			t.Fatalf("parse /metrics: %v", err)
		}
		written := families["servicebus_udplog_records_written_total"]
		bytes := families["servicebus_udplog_bytes_written_total"]
		return written != nil && written.GetMetric()[0].GetCounter().GetValue() == 1 &&
			bytes != nil && bytes.GetMetric()[0].GetCounter().GetValue() > 0 &&
			families["servicebus_udplog_datagrams_dropped_total"] != nil
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
	if err := p.stop(t, syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("logd exit: %v\n%s", err, stderr.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("metrics still served after logd stopped")
	}
}
