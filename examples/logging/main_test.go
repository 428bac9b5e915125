package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The example runs on its own: workers in other processes log into one file
// and every record they sent is written.
func TestExampleWritesEveryWorkersRecords(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "logging")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-workers", "3", "-records", "20", "-format", "json", "-show", "1000").CombinedOutput()
	if err != nil {
		t.Fatalf("example failed: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+) processes sent (\d+) records; the collector wrote (\d+) lines \((\d+) bad`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in the output:\n%s", out)
	}
	sent, _ := strconv.Atoi(string(m[2]))
	written, _ := strconv.Atoi(string(m[3]))
	if sent < 3*20 || written != sent || string(m[4]) != "0" {
		t.Fatalf("sent %d, written %d, bad %s; want every record of 3 workers x 20 written:\n%s", sent, written, m[4], out)
	}
	for _, w := range []string{`"worker":0`, `"worker":1`, `"worker":2`} {
		if !regexp.MustCompile(regexp.QuoteMeta(w)).Match(out) {
			t.Errorf("no line of %s in the shown file:\n%s", w, out)
		}
	}
}
