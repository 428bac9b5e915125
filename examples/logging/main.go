// Command logging shows many processes logging into one file through the
// UDP log collector: it starts a collector, forks worker processes (itself,
// re-run with -worker) that log through the logrus hook and the slog
// handler — and, when python3 is on the PATH, a Python process that logs
// through logging.handlers.DatagramHandler — waits for them, and prints the
// one file they share.
//
//	go run ./examples/logging
//	go run ./examples/logging -workers 8 -records 1000 -format json
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

func main() {
	workers := flag.Int("workers", 4, "worker processes to fork")
	records := flag.Int("records", 5, "records each worker logs")
	format := flag.String("format", "text", "line format of the file: text or json")
	dir := flag.String("dir", "", "directory for the log file (default: a temporary one, removed at the end)")
	show := flag.Int("show", 20, "print at most this many lines of the file")
	worker := flag.String("worker", "", "internal: log to the collector at this address as a worker")
	id := flag.Int("id", 0, "internal: worker number")
	flag.Parse()
	if *worker != "" {
		os.Exit(runWorker(*worker, *id, *records))
	}
	os.Exit(runCollector(*workers, *records, udplog.Format(*format), *dir, *show))
}

// runCollector is the parent process: it owns the file.
func runCollector(workers, records int, format udplog.Format, dir string, show int) int {
	if dir == "" {
		d, err := os.MkdirTemp("", "servicebus-logging")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		dir = d
	}
	file := filepath.Join(dir, "system.log")
	srv, err := udplog.NewServer(udplog.ServerConfig{
		Addr:   "127.0.0.1:0", // a free port; workers are told which
		File:   file,
		Format: format,
		OnStart: func(addr net.Addr) error {
			fmt.Printf("collector pid %d listening on %s, writing %s\n", os.Getpid(), addr, file)
			return nil
		},
	}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()

	cmds := make([]*exec.Cmd, workers)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-worker", srv.Addr().String(), "-id", strconv.Itoa(i), "-records", strconv.Itoa(records))
		cmds[i].Stdout, cmds[i].Stderr = os.Stdout, os.Stderr
		if err := cmds[i].Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Each worker sends records+1 datagrams.
	want := uint64(workers * (records + 1))
	if py, err := exec.LookPath("python3"); err == nil {
		host, port, _ := net.SplitHostPort(srv.Addr().String())
		c := exec.Command(py, "-c", pythonWorker, host, port, strconv.Itoa(records))
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Start(); err == nil {
			cmds = append(cmds, c)
			want += uint64(records)
		}
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
		}
	}
	// Wait (bounded) until every record is in.
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Written+srv.Stats().KernelDrops < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := srv.Stats()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("\n%d processes sent %d records; the collector wrote %d lines (%d bad, %d dropped by the kernel):\n\n",
		len(cmds), want, st.Written, st.Bad, st.KernelDrops)
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n <= show {
			fmt.Println(sc.Text())
		}
	}
	if n > show {
		fmt.Printf("... (%d more lines)\n", n-show)
	}
	if uint64(n) != want {
		return 1
	}
	return 0
}

// runWorker is a child process: it logs through the hook and the slog
// handler and never touches the file.
func runWorker(addr string, id, records int) int {
	hook, err := udplog.NewHook(udplog.HookConfig{Addr: addr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer hook.Close()
	log := logrus.New()
	log.Out = io.Discard // the collector has the only copy
	log.AddHook(hook)
	for i := 0; i < records; i++ {
		entry := log.WithFields(logrus.Fields{"worker": id, "step": i})
		if i%3 == 2 {
			entry.Warn("step took long")
		} else {
			entry.Info("step done")
		}
	}
	c, err := udplog.Dial(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	slog.New(udplog.NewSlogHandler(c, nil)).Info("worker finished", "worker", id, "dropped", hook.Client().Dropped())
	return 0
}

// pythonWorker logs through the standard library's DatagramHandler, whose
// pickled records the collector reads without running any of them.
const pythonWorker = `
import logging, logging.handlers, sys
log = logging.getLogger("pyworker")
log.setLevel(logging.INFO)
log.addHandler(logging.handlers.DatagramHandler(sys.argv[1], int(sys.argv[2])))
for i in range(int(sys.argv[3])):
    log.info("python step %d done", i, extra={"step": i})
`
