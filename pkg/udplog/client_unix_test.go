//go:build unix

package udplog

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestClientSendNeverWaitsOnAFullSocket puts a Client on a socket whose
// buffer is full and whose peer never reads: a send that waited for room,
// as net.Conn.Write does, would wait forever. Loopback UDP cannot show
// this (the kernel drops what the receiver has no room for), so the socket
// is a Unix datagram pair, driven by the same netpoller.
func TestClientSendNeverWaitsOnAFullSocket(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[1]) // the peer, which never reads
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "full")
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	raw, err := pc.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	// Fill the buffer until the kernel says it would block.
	b := make([]byte, 1024)
	for full := false; !full; {
		raw.Write(func(fd uintptr) bool {
			_, err = syscall.Write(int(fd), b)
			full = errors.Is(err, syscall.EAGAIN)
			return true
		})
		if err != nil && !full {
			t.Fatal(err)
		}
	}

	c := &Client{raw: raw}
	const n = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			if c.Send(b) {
				t.Error("a datagram left a full socket")
				return
			}
		}
	}()
	// Returning at all is the property; the deadline only turns a wait
	// that would last forever into a failure.
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Send waited on a full socket")
	}
	if c.Dropped() != n || c.Sent() != 0 {
		t.Fatalf("dropped %d, sent %d; want %d dropped", c.Dropped(), c.Sent(), n)
	}
}
