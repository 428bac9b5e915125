package udplog

import (
	"net"
	"syscall"
)

func setReadBuffer(c *net.UDPConn, n int) (int, error) {
	return n, c.SetReadBuffer(n)
}

func kernelDrops(*net.UDPAddr) (uint64, bool) { return 0, false }

// sendNow writes with the ordinary Write on Windows, where a UDP send does
// not wait for the receiver.
func sendNow(c *net.UDPConn, _ syscall.RawConn, b []byte) error {
	_, err := c.Write(b)
	return err
}
