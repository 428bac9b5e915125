package udplog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// Environment of a child process that logs through the hook.
const (
	childEnv     = "UDPLOG_TEST_CHILD" // child number
	childAddrEnv = "UDPLOG_TEST_ADDR"
	childNEnv    = "UDPLOG_TEST_N"
	childRateEnv = "UDPLOG_TEST_RATE" // records/s of this child, 0 = as fast as it can
)

// runChild logs N records through the hook and prints its counters.
func runChild() int {
	id, _ := strconv.Atoi(os.Getenv(childEnv))
	n, _ := strconv.Atoi(os.Getenv(childNEnv))
	rate, _ := strconv.ParseFloat(os.Getenv(childRateEnv), 64)
	hook, err := NewHook(HookConfig{Addr: os.Getenv(childAddrEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer hook.Close()
	log := logrus.New()
	log.Out = io.Discard
	log.AddHook(hook)
	start := time.Now()
	for i := 0; i < n; i++ {
		if rate > 0 && i%16 == 0 {
			if ahead := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		log.WithFields(logrus.Fields{"child": id, "seq": i}).Info("record")
	}
	fmt.Printf("sent=%d dropped=%d\n", hook.Client().Sent(), hook.Client().Dropped())
	return 0
}

var childLine = regexp.MustCompile(`^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} PID:(\d+)\]INFO:record child=(\d+) host="[^"]*" seq=(\d+)$`)

type processRun struct {
	lines, intact, kernelDrops, clientDrops int
	elapsed                                 time.Duration
}

// runProcesses starts procs children that log n records each at rate
// records/s each into a fresh collector, and checks every line.
func runProcesses(t *testing.T, procs, n int, rate float64) processRun {
	t.Helper()
	s := startServer(t, ServerConfig{})
	before := s.Stats().KernelDrops
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*os.File, procs)
	start := time.Now()
	for i := range cmds {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(i), childAddrEnv+"="+s.Addr().String(),
			childNEnv+"="+strconv.Itoa(n), childRateEnv+"="+strconv.FormatFloat(rate, 'f', -1, 64))
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr, outs[i] = f, f, f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	var run processRun
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			out, _ := os.ReadFile(outs[i].Name())
			t.Fatalf("child %d: %v\n%s", i, err, out)
		}
		out, _ := os.ReadFile(outs[i].Name())
		var sent, dropped int
		if _, err := fmt.Sscanf(string(out), "sent=%d dropped=%d", &sent, &dropped); err != nil {
			t.Fatalf("child %d output %q", i, out)
		}
		run.clientDrops += dropped
	}
	run.elapsed = time.Since(start)
	total := uint64(procs * n)
	// Every datagram is either read or counted as a kernel drop; wait for that.
	testkit.Eventually(t, 30*time.Second, "collector to catch up", func() bool {
		st := s.Stats()
		return st.Received+(st.KernelDrops-before) >= total-uint64(run.clientDrops)
	})
	st := s.Stats() // before Close: the kernel's count goes with the socket
	run.kernelDrops = int(st.KernelDrops - before)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("receive buffer %d bytes", st.ReadBuffer)

	f, err := os.Open(s.cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := make(map[[2]int]bool, procs*n)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		run.lines++
		m := childLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("torn or foreign line %d: %q", run.lines, sc.Text())
		}
		c, _ := strconv.Atoi(m[2])
		q, _ := strconv.Atoi(m[3])
		key := [2]int{c, q}
		if seen[key] || c >= procs || q >= n {
			t.Fatalf("duplicate or unknown record %q", sc.Text())
		}
		seen[key] = true
		run.intact++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestEightProcessesLogIntoOneFile: 8 processes × 10 000 records through the
// hook give exactly 80 000 intact lines; when the kernel drops datagrams at
// full speed, the test reports how many and finds a rate at which none drop.
func TestEightProcessesLogIntoOneFile(t *testing.T) {
	const procs, n = 8, 10000
	for _, rate := range []float64{0, 8000, 4000, 2000, 1000} {
		r := runProcesses(t, procs, n, rate)
		total := procs * n
		what := "full speed"
		if rate > 0 {
			what = fmt.Sprintf("%.0f records/s per process (%.0f/s total)", rate, rate*procs)
		}
		t.Logf("%s: %d intact lines of %d in %v (%.0f records/s sent), kernel drops %d, client drops %d",
			what, r.intact, total, r.elapsed.Round(time.Millisecond), float64(total)/r.elapsed.Seconds(), r.kernelDrops, r.clientDrops)
		if r.intact == total {
			return
		}
		if r.intact+r.kernelDrops+r.clientDrops != total {
			t.Fatalf("%d records unaccounted for", total-r.intact-r.kernelDrops-r.clientDrops)
		}
	}
	t.Fatal("datagrams were dropped even at 1000 records/s per process")
}
