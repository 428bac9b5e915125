//go:build !linux && !windows

package udplog

import (
	"net"
	"syscall"
)

func setReadBuffer(c *net.UDPConn, n int) (int, error) {
	return n, c.SetReadBuffer(n)
}

func kernelDrops(*net.UDPAddr) (uint64, bool) { return 0, false }

func sendNow(_ *net.UDPConn, raw syscall.RawConn, b []byte) error {
	var serr error
	err := raw.Write(func(fd uintptr) bool {
		_, serr = syscall.Write(int(fd), b)
		return true
	})
	if err != nil {
		return err
	}
	return serr
}
