//go:build linux && (amd64 || arm64)

package udplog

import (
	"net"
	"syscall"
	"unsafe"
)

// batchReader reads up to recvBatch datagrams a system call (recvmmsg).
type batchReader struct {
	raw  syscall.RawConn
	hdrs []mmsghdr
	iovs []syscall.Iovec
	buf  []byte
}

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

const (
	recvBatch = 64
	recvSlot  = 64 << 10 // above MaxRecordSize, so oversize is seen
)

func newBatchReader(c *net.UDPConn) (*batchReader, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &batchReader{raw: raw, hdrs: make([]mmsghdr, recvBatch), iovs: make([]syscall.Iovec, recvBatch), buf: make([]byte, recvBatch*recvSlot)}
	for i := range r.hdrs {
		r.iovs[i].Base = &r.buf[i*recvSlot]
		r.iovs[i].SetLen(recvSlot)
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.Iovlen = 1
	}
	return r, nil
}

// read waits for datagrams and calls fn with each; b is valid during fn only.
func (r *batchReader) read(fn func(b []byte)) error {
	var n int
	var errno syscall.Errno
	err := r.raw.Read(func(fd uintptr) bool {
		r1, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EAGAIN || e == syscall.EINTR {
			return false
		}
		n, errno = int(r1), e
		return true
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	for i := 0; i < n; i++ {
		// A UDP datagram is at most 65507 bytes: it fits a slot whole.
		fn(r.buf[i*recvSlot : i*recvSlot+int(r.hdrs[i].n)])
	}
	return nil
}
