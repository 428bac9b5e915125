package udplog

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// setReadBuffer asks for an n-byte receive buffer, above net.core.rmem_max
// when the process may (SO_RCVBUFFORCE needs CAP_NET_ADMIN), and returns the
// size the kernel granted.
func setReadBuffer(c *net.UDPConn, n int) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = raw.Control(func(fd uintptr) {
		if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n) != nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		}
		got, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	return got, err
}

// kernelDrops reads the kernel's count of datagrams dropped on the socket
// bound to addr (the "drops" column of /proc/net/udp), because its receive
// buffer was full.
func kernelDrops(addr *net.UDPAddr) (uint64, bool) {
	file := "/proc/net/udp"
	if addr.IP.To4() == nil {
		file = "/proc/net/udp6"
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	port := fmt.Sprintf(":%04X", addr.Port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 13 || !strings.HasSuffix(fields[1], port) {
			continue
		}
		n, err := strconv.ParseUint(fields[len(fields)-1], 10, 64)
		return n, err == nil
	}
	return 0, false
}

// sendNow writes one datagram without ever waiting: a full socket buffer or
// an absent collector is an error, not a wait.
func sendNow(_ *net.UDPConn, raw syscall.RawConn, b []byte) error {
	var serr error
	err := raw.Write(func(fd uintptr) bool {
		_, serr = syscall.Write(int(fd), b)
		return true // never park the goroutine, even on EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}
