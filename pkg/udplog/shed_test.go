package udplog

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// largeJSON is a record just over smallCost, so it takes a large slot.
func largeJSON(i int) []byte {
	return []byte(`{"level":"info","msg":"large ` + strconv.Itoa(i) + `","pad":"` + strings.Repeat("p", smallCost) + `"}`)
}

func smallJSON(msg string) []byte {
	return []byte(`{"level":"info","msg":"` + msg + `"}`)
}

// holdWriter starts a collector whose writer stops at its first line, and
// sends that line ("first"): the writer goes on when release is called.
func holdWriter(t *testing.T, logger watermill.LoggerAdapter) (s *Server, send func([]byte), release func()) {
	t.Helper()
	s, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", File: filepath.Join(t.TempDir(), "a.log"), FlushInterval: 10 * time.Millisecond}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	send = func(b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock() // the writer waits here to write its first line
	held := true
	release = func() {
		if held {
			held = false
			s.mu.Unlock()
		}
	}
	t.Cleanup(release) // cleanups run last first: before Close
	send(smallJSON("first"))
	return s, send, release
}

// TestServerWritesSmallRecordsBeforeQueuedLargeOnes: small records that
// arrive after large datagrams pass them, waiting for one large decode at
// most (the writer takes one large datagram between two small batches).
func TestServerWritesSmallRecordsBeforeQueuedLargeOnes(t *testing.T) {
	s, send, release := holdWriter(t, nil)
	const large, small = 20, 5
	for i := range large {
		send(largeJSON(i))
	}
	for i := range small {
		send(smallJSON("small " + strconv.Itoa(i)))
	}
	testkit.Eventually(t, 10*time.Second, "every datagram queued", func() bool { return s.Stats().Received == 1+large+small })
	release()
	testkit.Eventually(t, 10*time.Second, "every record written", func() bool { return s.Stats().Written == 1+large+small })
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, s.cfg.File)
	if len(lines) != 1+large+small || !strings.HasSuffix(lines[0], "INFO:first") {
		t.Fatalf("%d lines, first %.60q", len(lines), lines[0])
	}
	smalls := 0
	for i, l := range lines {
		if strings.Contains(l, "INFO:small ") {
			smalls++
			if i > small+1 {
				t.Fatalf("small record on line %d, behind more than one large datagram", i)
			}
		}
	}
	if smalls != small {
		t.Fatalf("%d small records written, want %d", smalls, small)
	}
	if st := s.Stats(); st.Shed != 0 || st.Capped != large {
		t.Fatalf("stats %+v: want nothing shed, %d lines cut", st, large)
	}
}

// TestServerShedsLargeDatagramsWhenItsSlotsAreFull: with the writer busy,
// large datagrams beyond the 64 slots are shed and counted, small records
// are still queued and written, and shedding is logged at once.
func TestServerShedsLargeDatagramsWhenItsSlotsAreFull(t *testing.T) {
	logger := &lockedLogger{}
	s, send, release := holdWriter(t, logger)
	const over, small = 10, 3
	for i := range largeSlots + over {
		send(largeJSON(i))
	}
	for i := range small {
		send(smallJSON("small " + strconv.Itoa(i)))
	}
	total := uint64(1 + largeSlots + over + small)
	testkit.Eventually(t, 10*time.Second, "every datagram read", func() bool { st := s.Stats(); return st.Received+st.KernelDrops == total })
	if st := s.Stats(); st.KernelDrops != 0 || st.Shed != over || st.QueueDrops != 0 {
		t.Fatalf("stats %+v: want %d shed and nothing else dropped", st, over)
	}
	release()
	testkit.Eventually(t, 10*time.Second, "the rest written", func() bool { return s.Stats().Written == total-over })
	s.Flush()
	text := strings.Join(readLines(t, s.cfg.File), "\n")
	for i := range small {
		if !strings.Contains(text, "INFO:small "+strconv.Itoa(i)) {
			t.Fatalf("small record %d missing", i)
		}
	}
	// Logged the moment shedding starts (the count then is 1 to over), and
	// not again within StatsInterval (a minute).
	const msg = "udplog: shedding large datagrams: decoding is behind a flood of them"
	testkit.Eventually(t, 10*time.Second, "the shedding logged", func() bool { _, ok := logger.find(msg); return ok })
	f, _ := logger.find(msg)
	if n, ok := f["shed"].(uint64); !ok || n < 1 || n > over || f["shed_total"] != n {
		t.Fatalf("log fields %v", f)
	}
	s.Close()
	if n := logger.count(msg); n != 1 {
		t.Fatalf("shedding logged %d times within a StatsInterval, want once", n)
	}
}

// TestServerCountsCappedRecords: records written with a value or the line
// cut are counted in Stats.Capped.
func TestServerCountsCappedRecords(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Send(pyRecord(pyLong4(60000), pyStr("x")))
	c.Send(smallJSON(strings.Repeat("m", MaxLineSize)))
	c.Send(smallJSON("whole"))
	testkit.Eventually(t, 10*time.Second, "3 records", func() bool { return s.Stats().Written == 3 })
	if st := s.Stats(); st.Capped != 2 {
		t.Fatalf("capped %d, want 2", st.Capped)
	}
	s.Flush()
	text := strings.Join(readLines(t, s.cfg.File), "\n")
	for _, want := range []string{"]INFO:<int of 60000 bytes> x=\"x\"", "m …[udplog: cut, datagram of ", "]INFO:whole"} {
		if !strings.Contains(text, want) {
			t.Fatalf("file lacks %q", want)
		}
	}
}
