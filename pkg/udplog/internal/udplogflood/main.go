// Command udplogflood replays finding 5 of issue 16 against the udplog
// collector and measures what it costs: a sender process floods the
// collector (running in this process, configured as `servicebus logd` is by
// default) with Python DatagramHandler pickles whose msg is a LONG4 integer
// of -long bytes, then one good JSON record is sent, and the tool reports
// the collector's CPU time, the bytes it wrote, its peak RSS and how late
// the good record reached the file. With -shape costly the pickles are the
// costliest the work budget lets through (a list of 19,900 one-letter
// strings, 60 KB); -duration 0 sends as fast as the sender can.
//
//	go run ./pkg/udplog/internal/udplogflood -n 3200 -duration 3s -long 60000
//	go run ./pkg/udplog/internal/udplogflood -n 20000 -duration 0 -shape costly
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

func main() {
	n := flag.Int("n", 3200, "hostile datagrams to send")
	duration := flag.Duration("duration", 3*time.Second, "spread the datagrams over this long")
	long := flag.Int("long", 60000, "bytes of the LONG4 integer in each datagram's msg")
	wait := flag.Duration("wait", 120*time.Second, "give up waiting for the good record after this long")
	shape := flag.String("shape", "long4", "long4 (finding 5) or costly (the costliest pickle that decodes)")
	memProfile := flag.String("memprofile", "", "write a heap profile of the collector to this file when the good record is written")
	child := flag.String("child", "", "internal: be the sender, flooding this address")
	flag.Parse()
	if *shape != "long4" && *shape != "costly" {
		fail(fmt.Errorf("-shape %q: want long4 or costly", *shape))
	}
	if *child != "" {
		os.Exit(flood(*child, *n, *duration, hostileRecord(*shape, *long)))
	}
	dir, err := os.MkdirTemp("", "udplogflood")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "servicebus.log")
	s, err := udplog.NewServer(udplog.ServerConfig{Addr: "127.0.0.1:0", File: file}, nil)
	if err != nil {
		fail(err)
	}
	defer s.Close()
	k0 := s.Stats().KernelDrops
	cpu0 := processCPU()
	start := time.Now()
	cmd := exec.Command(os.Args[0], "-child", s.Addr().String(), "-n", strconv.Itoa(*n),
		"-duration", duration.String(), "-long", strconv.Itoa(*long), "-shape", *shape)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fail(fmt.Errorf("sender: %w", err))
	}
	sendTime := time.Since(start)

	c, err := udplog.Dial(s.Addr().String())
	if err != nil {
		fail(err)
	}
	defer c.Close()
	marker := []byte("good record after the flood")
	sent := time.Now()
	c.Send([]byte(`{"level":"info","msg":"` + string(marker) + `"}`))
	delay, found := waitFor(file, marker, sent, *wait)
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err == nil {
			err = pprof.WriteHeapProfile(f)
			f.Close()
		}
		if err != nil {
			fail(err)
		}
	}
	st := s.Stats()
	cpu := processCPU() - cpu0
	fi, _ := os.Stat(file)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("sent %d %s datagrams of %d bytes in %v\n", *n, *shape, len(hostileRecord(*shape, *long)), sendTime.Round(time.Millisecond))
	if found {
		fmt.Printf("good record written %v after it was sent\n", delay.Round(time.Millisecond))
	} else {
		fmt.Printf("good record NOT written within %v\n", *wait)
	}
	fmt.Printf("collector CPU %.2f s, file %d bytes, peak RSS %d MB\n", cpu.Seconds(), fi.Size(), ru.Maxrss>>10)
	fmt.Printf("stats: %+v (kernel drops during the run %d)\n", st, st.KernelDrops-k0)
}

// waitFor reads the file as it grows, each byte once (reading it whole
// again and again would weigh on this process's RSS, which is measured),
// until marker appears or wait has passed since sent.
func waitFor(file string, marker []byte, sent time.Time, wait time.Duration) (time.Duration, bool) {
	f, err := os.Open(file)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var tail []byte
	for time.Since(sent) < wait {
		n, _ := f.Read(buf)
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, marker) {
			return time.Since(sent), true
		}
		if len(tail) > len(marker) {
			tail = append(tail[:0], tail[len(tail)-len(marker):]...)
		}
		if n == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return 0, false
}

// flood sends n copies of b, paced evenly over d.
func flood(addr string, n int, d time.Duration, b []byte) int {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		if ahead := time.Duration(float64(i)/float64(n)*float64(d)) - time.Since(start); ahead > 0 {
			time.Sleep(ahead)
		}
		conn.Write(b) // loss is the collector's to count
	}
	return 0
}

// hostileRecord is a DatagramHandler datagram: a length prefix, then a
// protocol-2 pickle of a LogRecord dict whose msg is a LONG4 of long bytes
// (shape long4) or a list of one-letter strings (shape costly).
func hostileRecord(shape string, long int) []byte {
	str := func(p []byte, s string) []byte {
		p = append(p, 'X')
		p = binary.LittleEndian.AppendUint32(p, uint32(len(s)))
		return append(p, s...)
	}
	p := []byte{0x80, 2, '}', '('}
	for _, kv := range [][2]string{{"name", "flood"}, {"levelname", "INFO"}, {"pathname", "/srv/app.py"}, {"funcName", "handler"}} {
		p = str(p, kv[0])
		p = str(p, kv[1])
	}
	p = str(p, "lineno")
	p = append(p, 'K', 42)
	p = str(p, "msg")
	if shape == "costly" {
		p = append(p, '(')
		p = append(p, bytes.Repeat([]byte{'C', 1, 'a'}, 19900)...)
		p = append(p, 'l')
	} else {
		p = append(p, 0x8b)
		p = binary.LittleEndian.AppendUint32(p, uint32(long))
		p = append(p, bytes.Repeat([]byte{0x5a}, long)...) // positive: the top bit is clear
	}
	p = append(p, 'u', '.')
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...)
}

// processCPU is the CPU time of this process (the collector, not its sender).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "udplogflood:", err)
	os.Exit(1)
}
