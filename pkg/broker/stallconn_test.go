package broker

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/testkit"
)

// net.Pipe has no buffer: every write waits for a reader, as a socket whose
// peer has stopped reading does once its buffers are full.

func TestStallConnWriteReturnsWithinTheGraceWhenThePeerDoesNotRead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	c := newStallConn(client)
	defer c.Close()

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
	// Back to direct writes once the backlog drained.
	testkit.Eventually(t, time.Second, "direct writes again", func() bool {
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
	client, server := net.Pipe()
	defer server.Close()
	c := newStallConn(client)
	defer c.Close()
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
	client, server := net.Pipe()
	defer server.Close()
	c := newStallConn(client)
	defer c.Close()
	// A handshake deadline that has passed fails the write: it is not
	// written behind.
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Fatal("a write past the outside deadline succeeded")
	}
}
