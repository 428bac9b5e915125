//go:build !(linux && (amd64 || arm64))

package udplog

import "net"

// batchReader reads one datagram a system call where recvmmsg is not wired.
type batchReader struct {
	c   *net.UDPConn
	buf []byte
}

func newBatchReader(c *net.UDPConn) (*batchReader, error) {
	return &batchReader{c: c, buf: make([]byte, 64<<10)}, nil
}

func (r *batchReader) read(fn func(b []byte)) error {
	n, err := r.c.Read(r.buf)
	if err != nil {
		return err
	}
	fn(r.buf[:n])
	return nil
}
