package udplog

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// The collector rotates at local midnight of its zone, names files by the
// day they cover and keeps only Keep of them.
func TestServerRotatesDailyAtLocalMidnightAndKeepsN(t *testing.T) {
	zone := time.FixedZone("UTC+5", 5*3600)
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, zone)}
	dir := t.TempDir()
	s := startServer(t, ServerConfig{File: filepath.Join(dir, "app.log"), Keep: 3, Now: clock.Now, Location: zone})
	c, _ := Dial(s.Addr().String())
	defer c.Close()
	written := uint64(0)
	send := func(msg string) {
		t.Helper()
		c.Send([]byte(`{"level":"info","msg":"` + msg + `"}`))
		written++
		testkit.Eventually(t, 5*time.Second, msg, func() bool { return s.Stats().Written == written })
	}
	send("day1 noon")
	clock.Set(time.Date(2026, 3, 1, 23, 59, 59, 999e6, zone))
	send("day1 late")
	// 19:00 UTC is midnight in the collector's zone
	clock.Set(time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC))
	send("day2 start")
	for d := 3; d <= 7; d++ {
		clock.Set(time.Date(2026, 3, d, 8, 0, 0, 0, zone))
		send("day" + string(rune('0'+d)))
	}
	s.Flush()
	want := []string{"app.log", "app.log.2026-03-04", "app.log.2026-03-05", "app.log.2026-03-06"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	for name, msgs := range map[string][]string{
		"app.log": {"day7"}, "app.log.2026-03-06": {"day6"}, "app.log.2026-03-04": {"day4"},
	} {
		lines := readLines(t, filepath.Join(dir, name))
		if len(lines) != len(msgs) || !strings.HasSuffix(lines[0], ":"+msgs[0]) {
			t.Errorf("%s: %q", name, lines)
		}
	}
}

func TestRotationKeepsDayOfFirstTwoRecords(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	w := &rotatingFile{path: filepath.Join(dir, "a.log"), keep: 15, now: clock.Now, loc: time.UTC}
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.writeLine([]byte("one\n"))
	w.writeLine([]byte("two\n"))
	clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	w.writeLine([]byte("three\n"))
	w.flush()
	if l := readLines(t, filepath.Join(dir, "a.log.2026-03-01")); !slices.Equal(l, []string{"one", "two"}) {
		t.Fatalf("rotated: %q", l)
	}
	if l := readLines(t, filepath.Join(dir, "a.log")); !slices.Equal(l, []string{"three"}) {
		t.Fatalf("current: %q", l)
	}
}

func TestRotationBySizeCap(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	w := &rotatingFile{path: filepath.Join(dir, "a.log"), keep: 2, maxSize: 25, now: clock.Now, loc: time.UTC}
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	for i := 0; i < 10; i++ {
		if err := w.writeLine([]byte("0123456789\n")); err != nil { // 11 bytes: two fit under 25
			t.Fatal(err)
		}
	}
	w.flush()
	want := []string{"a.log", "a.log.2026-03-01.2", "a.log.2026-03-01.3"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	for _, n := range want {
		if l := readLines(t, filepath.Join(dir, n)); len(l) != 2 {
			t.Errorf("%s has %d lines", n, len(l))
		}
	}
}

func TestRotationOfFileLeftFromEarlierDay(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	os.WriteFile(path, []byte("old\n"), 0o644)
	old := time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC)
	os.Chtimes(path, old, old)
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	w := &rotatingFile{path: path, keep: 15, now: clock.Now, loc: time.UTC}
	if err := w.open(); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.writeLine([]byte("new\n"))
	w.flush()
	if l := readLines(t, path+".2026-02-27"); !slices.Equal(l, []string{"old"}) {
		t.Fatalf("%q", l)
	}
	if l := readLines(t, path); !slices.Equal(l, []string{"new"}) {
		t.Fatalf("%q", l)
	}
}

func TestPruneIgnoresOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.log.2026-01-01", "a.log.2026-01-02", "a.log.2026-01-02.1", "a.log.bak", "b.log.2026-01-01", "a.log.2026-01-03.gz"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	w := &rotatingFile{path: filepath.Join(dir, "a.log"), keep: 1}
	if err := w.prune(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a.log.2026-01-02.1", "a.log.2026-01-03.gz", "a.log.bak", "b.log.2026-01-01"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("%q", got)
	}
}
