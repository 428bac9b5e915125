package bench

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestServerProcessAnswersUsageAndWritesItsProfiles(t *testing.T) {
	dir := t.TempDir()
	prof := Profiles{CPU: filepath.Join(dir, "cpu"), Mutex: filepath.Join(dir, "mutex"), Alloc: filepath.Join(dir, "alloc")}
	p, err := startServerProcess(testServerCommand(), prof)
	if err != nil {
		t.Fatal(err)
	}
	u, err := p.usage(true)
	if err != nil {
		t.Fatal(err)
	}
	if u.Goroutines == 0 || u.Allocs == 0 || u.RSS == 0 {
		t.Errorf("usage of the server process %+v: want goroutines, allocations and RSS", u)
	}
	if self := readUsage(); u == self {
		t.Error("the server process answered this process's usage")
	}
	if err := p.start("no-such-side", "amqp://127.0.0.1:1/", "q", false); !errors.Is(err, ErrServerProcess) {
		t.Errorf("unknown server side: %v, want ErrServerProcess", err)
	}
	if err := p.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Profiles are written once the process has ended, under the server's
	// names only.
	for _, name := range []string{prof.CPU + ServerSuffix, prof.Mutex + ServerSuffix, prof.Alloc + ServerSuffix} {
		if st, err := os.Stat(name); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	if _, err := os.Stat(prof.CPU); err == nil {
		t.Errorf("the server process wrote the bench process's profile %s", prof.CPU)
	}
}

func TestServerProcessThatDiedIsAnError(t *testing.T) {
	p, err := startServerProcess(testServerCommand(), Profiles{})
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Kill()
	<-p.exited
	if _, err := p.usage(false); !errors.Is(err, ErrServerProcess) {
		t.Errorf("usage of a dead server process: %v, want ErrServerProcess", err)
	}
	if err := p.close(); !errors.Is(err, ErrServerProcess) {
		t.Errorf("close of a killed server process: %v, want ErrServerProcess", err)
	}
}
