package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// net.Pipe has no buffer: every write waits for a reader, as a socket whose
// peer has stopped reading does once its buffers are full.

// stallPipe is a stallConn over one end of a pipe, and the other end; both
// are closed at the end of the test.
func stallPipe(t *testing.T) (*stallConn, net.Conn) {
	client, server := net.Pipe()
	c := newStallConn(client)
	t.Cleanup(func() {
		c.Close()
		server.Close()
	})
	return c, server
}

func TestStallConnWriteReturnsWithinTheGraceWhenThePeerDoesNotRead(t *testing.T) {
	c, server := stallPipe(t)

	var want bytes.Buffer
	start := time.Now()
	for i := range 50 {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 1000)
		want.Write(chunk)
		if n, err := c.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
	}
	if took := time.Since(start); took > 20*writeGrace {
		t.Fatalf("50 writes to a peer that does not read took %s, want each to return within the %s grace", took, writeGrace)
	}

	// The peer reads again: everything arrives, whole and in order.
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes written behind arrived altered or out of order")
	}
	// The flusher ends once the backlog drained, and a later write starts
	// a new one.
	testkit.Eventually(t, time.Second, "the backlog drained", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.flushing
	})
	done := make(chan []byte)
	go func() {
		b := make([]byte, 3)
		_, _ = io.ReadFull(server, b)
		done <- b
	}()
	if _, err := c.Write([]byte("end")); err != nil {
		t.Fatal(err)
	}
	if b := <-done; string(b) != "end" {
		t.Fatalf("read %q after the backlog, want %q", b, "end")
	}
}

// Writes made while the flusher is in the kernel leave together, in order,
// in its next write: many frames, one system call.
func TestStallConnWritesWhatQueuedBehindAFlushInOneWrite(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	w := &countingConn{Conn: client}
	c := newStallConn(w)
	defer c.Close()

	// The peer does not read yet: the first write's flush blocks in the
	// "kernel", and the next 99 queue behind it.
	var want bytes.Buffer
	for i := range 100 {
		frame := []byte{byte(i), 0xce}
		want.Write(frame)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("frames written behind arrived altered or out of order")
	}
	if n := w.writes.Load(); n != 2 {
		t.Fatalf("100 writes reached the socket in %d writes, want 2 (the first, then everything queued behind it)", n)
	}
}

// The buffers of a large write are let go once it is written: a
// connection that once sent a big message does not hold its size for life.
func TestStallConnLetsGoOfALargeWritesBuffers(t *testing.T) {
	c, server := stallPipe(t)
	big := make([]byte, 4*keepBuffer)
	for range 2 { // the second queues behind the first: both buffers grow
		if _, err := c.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.ReadFull(server, make([]byte, 2*len(big))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the flusher done", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.flushing
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if cap(c.backlog) > keepBuffer || cap(c.pending) > keepBuffer {
		t.Fatalf("after a %d-byte write the connection keeps buffers of %d and %d bytes, want at most %d",
			len(big), cap(c.backlog), cap(c.pending), keepBuffer)
	}
}

type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func TestStallConnFailsWritesOnceTheLinkIsGone(t *testing.T) {
	client, server := net.Pipe()
	c := newStallConn(client)
	defer c.Close()
	if _, err := c.Write([]byte("into the backlog")); err != nil {
		t.Fatal(err)
	}
	server.Close() // the flush fails: the connection is broken
	testkit.Eventually(t, time.Second, "a failing write", func() bool {
		_, err := c.Write([]byte("x"))
		return err != nil
	})
}

func TestStallConnRefusesABacklogPastItsLimit(t *testing.T) {
	defer func(old int) { maxBacklog = old }(maxBacklog)
	maxBacklog = 4 << 20
	c, _ := stallPipe(t)
	chunk := make([]byte, 1<<20)
	var err error
	for i := 0; i <= maxBacklog>>20+1 && err == nil; i++ {
		_, err = c.Write(chunk)
	}
	if !errors.Is(err, errBacklogFull) {
		t.Fatalf("err = %v, want errBacklogFull", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, errBacklogFull) {
		t.Fatalf("after the limit: err = %v, want the same error again", err)
	}
}

func TestStallConnKeepsAnOutsideWriteDeadline(t *testing.T) {
	c, _ := stallPipe(t)
	// A handshake deadline that has passed fails the write: it is not
	// written behind.
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Fatal("a write past the outside deadline succeeded")
	}
	// SetDeadline bounds reads too: a handshake waiting for a broker that
	// never answers must end.
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("a read past the outside deadline: err = %v, want a timeout", err)
	}
}
