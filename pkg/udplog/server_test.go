package udplog

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

func startServer(t testing.TB, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.File == "" {
		cfg.File = filepath.Join(t.TempDir(), "app.log")
	}
	s, err := NewServer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestServerWritesHookAndSlogRecords(t *testing.T) {
	s := startServer(t, ServerConfig{})
	hook, err := NewHook(HookConfig{Addr: s.Addr().String(), Host: "box1"})
	if err != nil {
		t.Fatal(err)
	}
	defer hook.Close()
	log := logrus.New()
	log.Out = &bytes.Buffer{}
	log.AddHook(hook)
	log.WithField("user", "ann").Warn("quota low")

	c, err := Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slog.New(NewSlogHandler(c, nil)).Info("from slog", "n", 3, slog.Group("g", "k", "v"))

	testkit.Eventually(t, 5*time.Second, "2 records", func() bool { return s.Stats().Written == 2 })
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, s.cfg.File)
	pid := strconv.Itoa(os.Getpid())
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		" PID:" + pid + "]WARNING:quota low host=\"box1\" user=\"ann\"",
		" PID:" + pid + "]INFO:from slog g={\"k\":\"v\"} host=",
		" n=3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("file lacks %q:\n%s", want, text)
		}
	}
}

func TestServerRejectsBadDatagramsWhileGoodRecordsFlow(t *testing.T) {
	s := startServer(t, ServerConfig{Format: FormatJSON})
	c, err := Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := net.Dial("udp", s.Addr().String()) // Client refuses oversize itself
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	bad := [][]byte{
		[]byte("garbage"),
		[]byte("{\"level\":\"info\",\"msg\":\"\xc3\x28\"}"),
		[]byte(`{"level":"info"}`),
		readTestdata(t, "hostile_reduce_p1.bin"),
		readTestdata(t, "hostile_reduce_p4.bin"),
		readTestdata(t, "hostile_object.bin"),
		{0, 0, 0, 1},
	}
	const rounds = 50
	good := 0
	for i := 0; i < rounds; i++ {
		for _, b := range bad {
			c.Send(b)
			if c.Send([]byte(`{"level":"info","msg":"good","i":` + strconv.Itoa(good) + `}`)) {
				good++
			}
		}
		if _, err := raw.Write(bytes.Repeat([]byte("x"), MaxRecordSize+1)); err != nil {
			t.Fatal(err)
		}
		c.Send(readTestdata(t, "logging_handler.bin"))
		good++
	}
	want := uint64(rounds * (2*len(bad) + 2))
	testkit.Eventually(t, 5*time.Second, "all datagrams", func() bool { st := s.Stats(); return st.Written+st.Bad == want })
	st := s.Stats()
	if st.Written != uint64(good) || st.TooLarge != rounds || st.BadPickle != 3*rounds || st.NotJSON != 4*rounds {
		t.Fatalf("stats %+v, good %d", st, good)
	}
	s.Flush()
	lines := readLines(t, s.cfg.File)
	if len(lines) != good {
		t.Fatalf("%d lines, want %d", len(lines), good)
	}
	for _, l := range lines {
		if !strings.Contains(l, `"msg":"good"`) && !strings.Contains(l, `"msg":"hello from python"`) {
			t.Fatalf("unexpected line %q", l)
		}
	}
}

func TestServerPIDFileAndStartHook(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "logd.pid")
	var hooked net.Addr
	s := startServer(t, ServerConfig{PIDFile: pidFile, OnStart: func(a net.Addr) error { hooked = a; return nil }})
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file %q %v", b, err)
	}
	if hooked == nil || hooked.String() != s.Addr().String() {
		t.Fatalf("start hook got %v", hooked)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file left after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestServerStartHookErrorStopsServer(t *testing.T) {
	_, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", File: filepath.Join(t.TempDir(), "x.log"),
		OnStart: func(net.Addr) error { return os.ErrPermission }}, nil)
	if err == nil || !strings.Contains(err.Error(), "start hook") {
		t.Fatalf("got %v", err)
	}
}

func TestServerConfigValidateNamesEveryProblem(t *testing.T) {
	err := ServerConfig{Addr: "nohost:notaport", Format: "xml", MaxSize: -1}.Validate()
	for _, want := range []string{"File", "Format", "MaxSize", "Addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
}

func TestServerReopenAfterLogrotate(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, _ := Dial(s.Addr().String())
	defer c.Close()
	c.Send([]byte(`{"level":"info","msg":"before"}`))
	testkit.Eventually(t, 5*time.Second, "first record", func() bool { return s.Stats().Written == 1 })
	moved := s.cfg.File + ".1"
	if err := os.Rename(s.cfg.File, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	c.Send([]byte(`{"level":"info","msg":"after"}`))
	testkit.Eventually(t, 5*time.Second, "second record", func() bool { return s.Stats().Written == 2 })
	s.Flush()
	if l := readLines(t, moved); len(l) != 1 || !strings.HasSuffix(l[0], "INFO:before") {
		t.Fatalf("moved file: %q", l)
	}
	if l := readLines(t, s.cfg.File); len(l) != 1 || !strings.HasSuffix(l[0], "INFO:after") {
		t.Fatalf("new file: %q", l)
	}
}

func TestServerCloseWritesQueuedDatagrams(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, _ := Dial(s.Addr().String())
	defer c.Close()
	const n = 2000
	for i := 0; i < n; i++ {
		c.Send([]byte(`{"level":"info","msg":"m"}`))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if got := len(readLines(t, s.cfg.File)); uint64(got) != st.Written || st.Written != st.Received {
		t.Fatalf("%d lines, stats %+v", got, st)
	}
	if st.Written != n {
		t.Logf("only %d of %d written (kernel drops %d)", st.Written, n, st.KernelDrops)
	}
}

// TestClientCountsEveryRecordWithoutCollector: with nothing listening, the
// kernel refuses the datagrams (ICMP port unreachable); every record is
// either sent or counted as dropped, and the hook never reports an error to
// logrus. That Send never waits is TestClientSendNeverWaitsOnAFullSocket.
func TestClientCountsEveryRecordWithoutCollector(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close() // nothing listens there now
	c, err := Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := &Hook{client: c, levels: logrus.AllLevels}
	entry := logrus.NewEntry(logrus.New()).WithField("k", "v")
	entry.Level, entry.Message = logrus.InfoLevel, "nobody listens"
	const n = 20000
	for i := 0; i < n; i++ {
		if err := h.Fire(entry); err != nil {
			t.Fatalf("record %d: Fire returned %v", i, err)
		}
	}
	if c.Sent()+c.Dropped() != n {
		t.Fatalf("sent %d + dropped %d != %d", c.Sent(), c.Dropped(), n)
	}
	if c.Dropped() == 0 {
		t.Fatalf("no drops counted without a collector")
	}
	c.Close()
	if c.Send([]byte("{}")) {
		t.Fatal("send after Close")
	}
}

func TestServerPythonDatagramHandlerLive(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		testkit.Unavailable(t, "python3 missing")
	}
	s := startServer(t, ServerConfig{})
	host, port, _ := net.SplitHostPort(s.Addr().String())
	script := `
import logging, logging.handlers, sys
h = logging.handlers.DatagramHandler(sys.argv[1], int(sys.argv[2]))
log = logging.getLogger("py")
log.addHandler(h)
log.setLevel(logging.DEBUG)
log.info("hello %s", "go", extra={"order": 7})
log.error("bad\nnews")
h.close()
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", script, host, port)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	testkit.Eventually(t, 5*time.Second, "2 python records", func() bool { return s.Stats().Written == 2 })
	s.Flush()
	lines := readLines(t, s.cfg.File)
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "]INFO:hello go order=7") || !strings.HasSuffix(lines[1], `]ERROR:bad\nnews`) {
		t.Fatalf("%q", lines)
	}
	if !strings.Contains(lines[0], " PID:"+strconv.Itoa(cmd.Process.Pid)+"]") {
		t.Fatalf("pid of python process missing: %q", lines[0])
	}
}

func TestServerLogsDropCountsPeriodically(t *testing.T) {
	logger := &lockedLogger{}
	s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", File: filepath.Join(t.TempDir(), "a.log"), StatsInterval: 20 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, _ := Dial(s.Addr().String())
	defer c.Close()
	c.Send([]byte("junk"))
	c.Send(readTestdata(t, "hostile_reduce_p1.bin"))
	dropLogged := func() (watermill.LogFields, bool) {
		return logger.find("udplog: dropped datagrams")
	}
	testkit.Eventually(t, 5*time.Second, "drop count in the log", func() bool { _, ok := dropLogged(); return ok })
	f, _ := dropLogged()
	if f["bad_total"] != uint64(2) || f["bad_pickle"] != uint64(1) || f["not_json"] != uint64(1) {
		t.Fatalf("fields %v", f)
	}
}

// lockedLogger records Info messages; safe for concurrent use (watermill's
// CaptureLoggerAdapter hands out its map unlocked).
type lockedLogger struct {
	mu   sync.Mutex
	msgs []string
	flds []watermill.LogFields
}

func (l *lockedLogger) Error(string, error, watermill.LogFields) {}
func (l *lockedLogger) Debug(string, watermill.LogFields)        {}
func (l *lockedLogger) Trace(string, watermill.LogFields)        {}
func (l *lockedLogger) With(watermill.LogFields) watermill.LoggerAdapter {
	return l
}
func (l *lockedLogger) Info(msg string, f watermill.LogFields) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, msg)
	l.flds = append(l.flds, f)
}

func (l *lockedLogger) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (l *lockedLogger) find(msg string) (watermill.LogFields, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range l.msgs {
		if m == msg {
			return l.flds[i], true
		}
	}
	return nil, false
}
