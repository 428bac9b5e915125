// Command udplogbench measures how many records per second the udplog
// collector sustains with zero loss on this machine: sender processes (this
// program re-run with -child) send paced records in the layout of
// udplog.Hook over loopback UDP into a collector in this process that
// writes them to a file, and it counts what reached the file.
//
//	go run ./pkg/udplog/internal/udplogbench -rate 100000 -duration 5s
//	go run ./pkg/udplog/internal/udplogbench -search
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

// hookMode is -hook, handed to the sender processes.
var hookMode bool

// readBuffer is -rcvbuf.
var readBuffer int

func main() {
	rate := flag.Int("rate", 100000, "records/s in total")
	duration := flag.Duration("duration", 5*time.Second, "how long to send at each rate")
	senders := flag.Int("senders", 4, "sender processes")
	child := flag.String("child", "", "internal: be a sender to this address")
	childN := flag.Int("child-n", 0, "internal: records to send")
	childRate := flag.Float64("child-rate", 0, "internal: records/s to send")
	childID := flag.Int("child-id", 0, "internal: sender number")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the collector to this file")
	rcvbuf := flag.Int("rcvbuf", 0, "collector socket receive buffer, bytes (0: the default)")
	useHook := flag.Bool("hook", false, "senders log through logrus and udplog.Hook instead of sending prepared JSON")
	search := flag.Bool("search", false, "find the highest zero-loss rate, starting at -rate")
	format := flag.String("format", "text", "text or json")
	dir := flag.String("dir", "", "directory for the log file (default: a temp dir, removed after)")
	flag.Parse()
	hookMode = *useHook
	readBuffer = *rcvbuf
	if *child != "" {
		os.Exit(sendRecords(*child, *childID, *childN, *childRate, *useHook))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "udplogbench")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if !*search {
		r := run(*rate, *duration, *senders, udplog.Format(*format), *dir)
		fmt.Println(r)
		if !r.lossless() {
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		return
	}
	// Double until loss, then bisect between the last good and the first bad rate.
	good, bad := 0, 0
	try := func(r int) {
		res := run(r, *duration, *senders, udplog.Format(*format), *dir)
		fmt.Println(res)
		if res.lossless() {
			good = r
		} else {
			bad = r
		}
	}
	for r := *rate; bad == 0 && r <= 10_000_000; r *= 2 {
		try(r)
	}
	for i := 0; i < 4 && bad > 0 && bad-good > bad/20; i++ {
		try((good + bad) / 2)
	}
	fmt.Printf("highest zero-loss rate found: %d records/s (sustained for %v each step)\n", good, *duration)
}

type result struct {
	rate                            int
	sent, written, lost, clientLost uint64
	kernelDrops, queueDrops         uint64
	sendTime, totalTime             time.Duration
	cpu                             time.Duration // collector process CPU, user+system
}

func (r result) lossless() bool { return r.lost == 0 && r.clientLost == 0 }

func (r result) String() string {
	return fmt.Sprintf("rate %7d/s: sent %d in %v (%.0f/s), written %d, %.0f records/s end to end, lost %d (kernel %d, queue %d, client %d); collector CPU %.2f µs/record",
		r.rate, r.sent, r.sendTime.Round(time.Millisecond), float64(r.sent)/r.sendTime.Seconds(), r.written,
		float64(r.written)/r.totalTime.Seconds(), r.lost, r.kernelDrops, r.queueDrops, r.clientLost,
		float64(r.cpu.Microseconds())/float64(max(r.written, 1)))
}

func run(rate int, d time.Duration, senders int, format udplog.Format, dir string) result {
	file := filepath.Join(dir, "bench.log")
	os.Remove(file)
	s, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: file, Format: format, ReadBuffer: readBuffer}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	defer os.Remove(file)
	k0 := s.Stats().KernelDrops
	cpu0 := processCPU()
	total := int(float64(rate) * d.Seconds())
	per := total / senders
	total = per * senders
	start := time.Now()
	cmds := make([]*exec.Cmd, senders)
	outs := make([]bytes.Buffer, senders)
	for g := range cmds {
		cmds[g] = exec.Command(os.Args[0], "-child", s.Addr().String(), "-child-id", strconv.Itoa(g),
			"-child-n", strconv.Itoa(per), "-child-rate", strconv.FormatFloat(float64(rate)/float64(senders), 'f', -1, 64),
			"-hook="+strconv.FormatBool(hookMode))
		cmds[g].Stdout, cmds[g].Stderr = &outs[g], os.Stderr
		if err := cmds[g].Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	var cl uint64
	for g, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			fmt.Fprintln(os.Stderr, "sender:", err)
			os.Exit(1)
		}
		var dropped uint64
		fmt.Sscanf(outs[g].String(), "dropped=%d", &dropped)
		cl += dropped
	}
	sendTime := time.Since(start)
	// wait until every datagram is written or accounted as dropped
	deadline := time.Now().Add(60 * time.Second)
	var st udplog.Stats
	for {
		st = s.Stats()
		if st.Written+st.QueueDrops+st.Bad+(st.KernelDrops-k0)+cl >= uint64(total) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	totalTime := time.Since(start)
	cpu := processCPU() - cpu0
	r := result{rate: rate, sent: uint64(total) - cl, written: st.Written, clientLost: cl,
		kernelDrops: st.KernelDrops - k0, queueDrops: st.QueueDrops, sendTime: sendTime, totalTime: totalTime, cpu: cpu}
	r.lost = uint64(total) - cl - st.Written
	return r
}

// sendRecords is a sender process: n records at rate records/s.
func sendRecords(addr string, id, n int, rate float64, useHook bool) int {
	hook, err := udplog.NewHook(udplog.HookConfig{Addr: addr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer hook.Close()
	c := hook.Client()
	log := logrus.New()
	log.Out = io.Discard
	log.AddHook(hook)
	host, _ := os.Hostname()
	pid := os.Getpid()
	start := time.Now()
	var b []byte
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if ahead := time.Duration(float64(i)/rate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
		if useHook {
			log.WithFields(logrus.Fields{"child": id, "seq": i, "path": "/api/v1/things", "status": 200}).Info("request served")
			continue
		}
		// the layout of udplog.Hook (logrus.JSONFormatter plus pid and host)
		b = append(b[:0], `{"child":`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, `,"host":"`...)
		b = append(b, host...)
		b = append(b, `","level":"info","msg":"request served","path":"/api/v1/things","pid":`...)
		b = strconv.AppendInt(b, int64(pid), 10)
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"status":200,"time":"`...)
		b = time.Now().AppendFormat(b, time.RFC3339Nano)
		b = append(b, `"}`...)
		c.Send(b)
	}
	fmt.Printf("dropped=%d\n", c.Dropped())
	return 0
}

// processCPU is the CPU time this process (the collector, not its sender
// children) has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
