package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The broker does much of the work of a call, and on a small machine it
// shares the cores with both sides: what servicebus's guarantees (publisher
// confirms, mandatory, the confirmed reply) cost shows in the broker's CPU
// more than in either side's. When the broker listens on this machine and
// /proc shows its process, the bench reads that process's CPU around each
// run as it reads its own (brokerCPU). It counts everything the broker did
// meanwhile: with nothing else on the broker, that is the run's work.

// userHz is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's tick.
const userHz = 100

// brokerProcess is the /proc directory of the process that listens on the
// TCP port of rawURL, when the broker is on this machine (a loopback host)
// and /proc lets us see its sockets; "" otherwise. Finding it needs the
// right to read the broker's file descriptors (root, or the broker's user).
func brokerProcess(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "5672"
		if u.Scheme == "amqps" {
			port = "5671"
		}
	}
	if !isLoopback(u.Hostname()) {
		return ""
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return ""
	}
	inodes := listeningInodes(uint16(p))
	if len(inodes) == 0 {
		return ""
	}
	return processWithSocket(inodes)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listeningInodes are the socket inodes in state LISTEN on port, from
// /proc/net/tcp and tcp6.
func listeningInodes(port uint16) map[string]bool {
	inodes := map[string]bool{}
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(bytes.NewReader(b))
		s.Scan() // the header
		for s.Scan() {
			fields := strings.Fields(s.Text())
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
				continue
			}
			inodes[fields[9]] = true
		}
	}
	return inodes
}

// processWithSocket is the /proc directory of a process that holds one of
// the socket inodes.
func processWithSocket(inodes map[string]bool) string {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(p + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(p + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				return p
			}
		}
	}
	return ""
}

// brokerCPU is the user and system CPU the process at dir has used so far;
// false if it cannot be read (the broker stopped, or none was found). Its
// resolution is a hundredth of a second: a run should keep the broker busy
// for a second or more to give a figure within a few per cent.
func brokerCPU(dir string) (time.Duration, bool) {
	if dir == "" {
		return 0, false
	}
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: count fields after
	// its closing one. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / userHz, true
}
