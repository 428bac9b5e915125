package securitytest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/udplog"
)

// pyDatagram frames a pickle as logging.handlers.DatagramHandler does.
func pyDatagram(pickle []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(pickle)))
	return append(b, pickle...)
}

// pickleStr is BINUNICODE s.
func pickleStr(s string) []byte {
	b := []byte{'X'}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// pickleRecord is a dict {levelname, msg, extra: <value built by extra>}.
func pickleRecord(extra []byte) []byte {
	p := []byte{0x80, 2, '}'}
	p = append(p, pickleStr("levelname")...)
	p = append(p, pickleStr("INFO")...)
	p = append(p, 's')
	p = append(p, pickleStr("msg")...)
	p = append(p, pickleStr("hostile")...)
	p = append(p, 's')
	p = append(p, pickleStr("extra")...)
	p = append(p, extra...)
	p = append(p, 's', '.')
	return p
}

// TestLogCollectorSurvivesHostileDatagrams: a running collector gets
// datagrams an attacker on the host can send to its UDP port; each is
// dropped and counted or written as exactly one escaped line, and the
// collector goes on writing honest records.
func TestLogCollectorSurvivesHostileDatagrams(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "servicebus.log")
	srv, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: file, FlushInterval: 10 * time.Millisecond}, newCaptureLog())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	conn, err := net.Dial("udp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Memo bomb: a list of two references to the previous list, 60 times:
	// 2^60 leaves if anyone expands it.
	bomb := []byte{']', 'q', 0}
	for range 60 {
		bomb = append(bomb, '(', 'h', 0, 'h', 0, 'l', 'q', 0)
	}
	// A list that contains itself.
	cycle := []byte{']', 'q', 0, 'h', 0, 'a'}
	var deep []byte
	for range 20000 {
		deep = append(deep, '(')
	}
	deep = append(deep, ']')
	for range 20000 {
		deep = append(deep, 'l')
	}

	dropped := map[string][]byte{
		"too large":        append([]byte(`{"level":"INFO","msg":"`), bytes.Repeat([]byte("a"), 62<<10)...),
		"invalid UTF-8":    []byte("{\"level\":\"INFO\",\"msg\":\"\xff\xfe\"}"),
		"NUL outside JSON": []byte("{\"level\":\"INFO\",\"msg\":\"a\"}\x00"),
		"empty":            {},
		"not JSON":         []byte("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>"),
		"deep JSON":        []byte(`{"level":"INFO","msg":"x","f":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + "}"),
		"pickle GLOBAL":    pyDatagram([]byte("cos\nsystem\n(S'touch " + filepath.Join(dir, "pwned") + "'\ntR.")),
		"pickle REDUCE":    pyDatagram(pickleRecord([]byte{'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', ')', 'R'})),
		"pickle memo bomb": pyDatagram(pickleRecord(bomb)),
		"pickle cycle":     pyDatagram(pickleRecord(cycle)),
		"pickle deep":      pyDatagram(pickleRecord(deep)),
		"pickle truncated": pyDatagram([]byte{0x80, 2, '}', 'X', 0xff, 0xff, 0xff, 0x7f}),
		"length lies":      append([]byte{0, 0, 0, 0xff}, pickleRecord(nil)...),
	}
	// Accepted, but must stay one line each with nothing raw in it.
	escaped := map[string][]byte{
		"newline injection": []byte(`{"level":"INFO","msg":"ok\n[2026-01-01 00:00:00,000 PID:1]ERROR:forged line"}`),
		"CR and ANSI":       []byte(`{"level":"INFO\r","msg":"\u001b[31mred\u001b[0m\rover"}`),
		"NUL in text":       []byte(`{"level":"INFO","msg":"a\u0000b","k\nx":"v\u0000"}`),
	}
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	good := 0
	honest := func() {
		t.Helper()
		good++
		send([]byte(`{"level":"INFO","msg":"honest ` + strings.Repeat("x", good) + `"}`))
	}
	for _, b := range dropped {
		send(b)
		honest()
	}
	for _, b := range escaped {
		send(b)
		honest()
	}
	want := uint64(len(dropped) + len(escaped) + good)
	testkit.Eventually(t, 20*time.Second, "every datagram handled", func() bool {
		st := srv.Stats()
		return st.Written+st.Bad >= want
	})
	st := srv.Stats()
	if st.Bad != uint64(len(dropped)) || st.Written != uint64(len(escaped)+good) {
		t.Fatalf("stats %+v: want %d bad and %d written", st, len(dropped), len(escaped)+good)
	}
	if err := srv.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, honestLines := 0, 0
	for sc.Scan() {
		l := sc.Text()
		lines++
		if !strings.HasPrefix(l, "[") || strings.ContainsAny(l, "\r\x00\x1b") || !isUTF8(l) {
			t.Errorf("line %d is not one clean record: %q", lines, l)
		}
		if strings.Contains(l, "]INFO:honest ") {
			honestLines++
		}
	}
	if lines != len(escaped)+good || honestLines != good {
		t.Fatalf("%d lines (%d honest); want %d (%d honest)", lines, honestLines, len(escaped)+good, good)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatal("a pickle ran a command")
	}
}

// collectorEnv, when set, makes this test binary a bare collector writing
// to the file it names (see init), so that a test can measure the CPU time
// and peak RSS of the collector alone.
const collectorEnv = "SECURITYTEST_UDPLOG_COLLECTOR"

func init() {
	if file := os.Getenv(collectorEnv); file != "" {
		os.Exit(runCollector(file))
	}
}

// collectorReport is what the collector process prints when it stops.
type collectorReport struct {
	Stats udplog.Stats // the kernel's drop count read before Close, the rest after
	// GoMapped is all the memory the Go runtime mapped (heap, stacks, their
	// metadata), which never shrinks: at least the peak of the Go heap.
	GoMapped uint64
}

// runCollector runs a collector configured as `servicebus logd` is by
// default, logging to stderr. It prints its address, runs until stdin
// closes, then prints a collectorReport as JSON.
func runCollector(file string) int {
	srv, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: file},
		watermill.NewStdLoggerWithOut(os.Stderr, false, false))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(srv.Addr())
	io.Copy(io.Discard, os.Stdin)
	before := srv.Stats()
	err = srv.Close()
	rep := collectorReport{Stats: srv.Stats()}
	rep.Stats.KernelDrops, rep.Stats.KernelKnown = before.KernelDrops, before.KernelKnown
	m := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(m)
	rep.GoMapped = m[0].Value.Uint64()
	json.NewEncoder(os.Stdout).Encode(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// raceBuild tells whether this binary was built with -race.
func raceBuild() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// pickleLogRecord is a DatagramHandler datagram of a LogRecord dict whose
// msg is the pickled value msg.
func pickleLogRecord(msg []byte) []byte {
	p := []byte{0x80, 2, '}', '('}
	for _, kv := range [][2]string{{"name", "flood"}, {"levelname", "INFO"}, {"pathname", "/srv/app.py"}} {
		p = append(p, pickleStr(kv[0])...)
		p = append(p, pickleStr(kv[1])...)
	}
	p = append(p, pickleStr("msg")...)
	p = append(p, msg...)
	return pyDatagram(append(p, 'u', '.'))
}

// lineWatcher finds text in a file that only grows, reading each byte once.
type lineWatcher struct {
	f    *os.File
	tail []byte
}

// waitFor returns how long it took text to appear in the file.
func (w *lineWatcher) waitFor(t *testing.T, text string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	buf := make([]byte, 1<<20)
	for {
		n, _ := w.f.Read(buf)
		w.tail = append(w.tail, buf[:n]...)
		if bytes.Contains(w.tail, []byte(text)) {
			return time.Since(start)
		}
		if len(w.tail) > len(text) {
			w.tail = append(w.tail[:0], w.tail[len(w.tail)-len(text):]...)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%q not written within %v", text, timeout)
		}
		if n == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestLogdBoundsAFloodOfExpensivePickles is finding 5 of issue 16: 3,200
// DatagramHandler pickles whose msg is a 60,000-byte LONG4 integer, sent
// over 3 s, once cost 29 s of CPU, a 341 MB log, 280 MB of RSS, and a good
// record sent after was written 33 s late. Now each is one short line with
// a marker. Then pickles that are still costly within the work budget (a
// list of 5,000 one-letter strings: each value is an allocation, and a
// decode costs as much as hundreds of JSON records) are sent as fast as one
// sender can: the large-datagram slots fill and the rest is shed and
// counted. After each
// flood a good record is written within 2 s; the collector's peak RSS stays
// under 100 MB; every datagram is accounted for. Under -race, whose shadow
// memory alone adds tens of MB to the RSS, the bound holds for all the
// memory the Go runtime mapped, and RSS is only reported.
func TestLogdBoundsAFloodOfExpensivePickles(t *testing.T) {
	file := filepath.Join(t.TempDir(), "servicebus.log")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), collectorEnv+"="+file)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	out := bufio.NewReader(stdout)
	addr, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("collector did not start: %v\n%s", err, stderr.String())
	}
	conn, err := net.Dial("udp", strings.TrimSpace(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var f *os.File
	testkit.Eventually(t, 5*time.Second, "the log file", func() bool { f, err = os.Open(file); return err == nil })
	defer f.Close()
	w := &lineWatcher{f: f}
	send := func(b []byte) {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	const n = 3200
	long4 := pickleLogRecord(append(binary.LittleEndian.AppendUint32([]byte{0x8b}, 60000), bytes.Repeat([]byte{0x5a}, 60000)...))
	start := time.Now()
	for i := range n {
		if ahead := time.Duration(i)*3*time.Second/n - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		send(long4)
	}
	send([]byte(`{"level":"info","msg":"good after the LONG4 flood"}`))
	d1 := w.waitFor(t, "]INFO:good after the LONG4 flood", 2*time.Second)

	floodDone := time.Now()
	const costly = 2000
	list := append([]byte{'('}, bytes.Repeat([]byte{'C', 1, 'a'}, 5000)...)
	worst := pickleLogRecord(append(list, 'l'))
	for range costly {
		send(worst)
	}
	send([]byte(`{"level":"info","msg":"good after the costly flood"}`))
	d2 := w.waitFor(t, "]INFO:good after the costly flood", 2*time.Second)
	costlyDone := time.Now()

	stdin.Close()
	var rep collectorReport
	if err := json.NewDecoder(out).Decode(&rep); err != nil {
		t.Fatalf("collector stats: %v\n%s", err, stderr.String())
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("collector: %v\n%s", err, stderr.String())
	}
	t.Logf("LONG4 flood %v, costly flood %v, collector stopped in %v", floodDone.Sub(start).Round(time.Millisecond),
		costlyDone.Sub(floodDone).Round(time.Millisecond), time.Since(costlyDone).Round(time.Millisecond))
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	peakRSS := ru.Maxrss << 10 // Linux reports KiB
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	size, _ := f.Seek(0, io.SeekEnd)
	st := rep.Stats
	t.Logf("good records written %v and %v after they were sent; collector CPU %v, peak RSS %d MiB, Go memory %d MiB, %d bytes written; stats %+v",
		d1.Round(time.Millisecond), d2.Round(time.Millisecond), cpu.Round(time.Millisecond), peakRSS>>20, rep.GoMapped>>20, size, st)

	if rep.GoMapped >= 100<<20 {
		t.Errorf("collector's Go memory %d MiB, want under 100", rep.GoMapped>>20)
	}
	if peakRSS >= 100<<20 && !raceBuild() {
		t.Errorf("collector peak RSS %d MiB, want under 100", peakRSS>>20)
	}
	sent := uint64(n + costly + 2)
	if !st.KernelKnown || st.Received+st.KernelDrops != sent {
		t.Errorf("received %d + kernel drops %d (known %v) != %d sent", st.Received, st.KernelDrops, st.KernelKnown, sent)
	}
	if st.Written+st.Shed+st.Bad+st.QueueDrops != st.Received {
		t.Errorf("written %d + shed %d + bad %d + queue drops %d != received %d", st.Written, st.Shed, st.Bad, st.QueueDrops, st.Received)
	}
	if st.Shed == 0 || st.Bad != 0 || st.QueueDrops != 0 || st.Capped != st.Written-2 {
		t.Errorf("want large datagrams shed, none bad or dropped from the small queue, every hostile record capped: %+v", st)
	}
	if c := strings.Count(stderr.String(), "udplog: shedding large datagrams"); c != 1 {
		t.Errorf("shedding logged %d times in a minute, want once:\n%s", c, stderr.String())
	}
	f.Seek(0, io.SeekStart)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines, marked := 0, 0
	for sc.Scan() {
		lines++
		if len(sc.Bytes())+1 > udplog.MaxLineSize {
			t.Fatalf("line %d is %d bytes", lines, len(sc.Bytes())+1)
		}
		if strings.HasSuffix(sc.Text(), "]INFO:<int of 60000 bytes>") {
			marked++
		}
	}
	if uint64(lines) != st.Written || marked == 0 {
		t.Errorf("%d lines (%d LONG4 records marked), %d written", lines, marked, st.Written)
	}
}
