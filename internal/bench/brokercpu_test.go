package bench

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// A process found by its listening port is the one that listens there,
// and its CPU reading moves when it works. This test's own process plays
// the broker: it listens on a loopback port and burns CPU.
func TestBrokerProcessIsFoundByItsPortAndItsCPUIsRead(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc: the broker's CPU is not measured here")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := brokerProcess("amqp://guest:guest@127.0.0.1:" + strconv.Itoa(port) + "/")
	if want := "/proc/" + strconv.Itoa(os.Getpid()); dir != want {
		t.Fatalf("brokerProcess = %q, want %q (this process listens on port %d)", dir, want, port)
	}
	before, ok := brokerCPU(dir)
	if !ok {
		t.Fatal("brokerCPU could not read this process's CPU")
	}
	// Burn CPU until the reading moves by at least two of its ticks.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1 << 20 {
			x += i
		}
		if now, _ := brokerCPU(dir); now-before >= 2*time.Second/userHz {
			return
		}
	}
	t.Fatalf("10 s of work moved the CPU reading by less than two ticks (%d)", x)
}

func TestNoBrokerProcessWhereNoneCanBeSeen(t *testing.T) {
	for _, u := range []string{
		"amqp://guest:guest@192.0.2.1:5672/", // not this machine
		"amqp://127.0.0.1:1/",                // nobody listens there
		"::not a url",
	} {
		if dir := brokerProcess(u); dir != "" {
			t.Errorf("brokerProcess(%q) = %q, want none", u, dir)
		}
	}
	if _, ok := brokerCPU(""); ok {
		t.Error("brokerCPU of no process reads a figure")
	}
}
