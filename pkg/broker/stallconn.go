package broker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// A socket write blocks for as long as the broker does not read: a silent
// link (the cable cut, no RST) fills the socket buffer long before
// heartbeats or the probe notice, and amqp091-go writes with its locks held
// on the caller's goroutine. stallConn keeps such a write from holding its
// caller: on an open connection every write is handed to a background
// flusher and returns at once, and later writes queue behind it in memory
// until the socket drains or the connection is declared dead (heartbeats,
// the probe, or a backlog past maxBacklog). The caller then waits for its
// confirm with its own context, and leaves by its deadline.
//
// Writing behind is also what makes a busy connection cheap: the frames
// that amqp091-go flushes while the flusher is in the kernel (replies, acks
// and publishes of other goroutines) go out together in its next write, one
// system call for many frames, and the broker reads them in one go.
//
// While a write deadline is set from outside (the handshake, the close),
// writes are made on the caller's goroutine, bounded by that deadline and
// by writeGrace, after which the rest is written behind as above.
//
// To amqp091-go (and to TLS, which runs on top of it) the bytes are written;
// a message stuck in the backlog of a link that dies is a publish lost with
// the connection, as any unconfirmed one.
const writeGrace = 10 * time.Millisecond

// maxBacklog is a var only so that a test can lower it.
var maxBacklog = 64 << 20

// errBacklogFull says the broker has not read maxBacklog bytes: the link is
// treated as broken and the connection fails.
var errBacklogFull = errors.New("broker: broker not reading: unsent data over 64 MiB")

type stallConn struct {
	net.Conn

	mu       sync.Mutex
	backlog  []byte    // accepted, not yet written; owned by the flusher while flushing
	pending  []byte    // appended while the flusher writes backlog
	flushing bool      // a background flush runs
	err      error     // sticky: the first write error
	hard     time.Time // write deadline set from outside (handshake, close)
}

func newStallConn(c net.Conn) *stallConn { return &stallConn{Conn: c} }

func (c *stallConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.flushing {
		if len(c.pending)+len(p) > maxBacklog {
			c.err = errBacklogFull
			_ = c.Conn.Close()
			return 0, c.err
		}
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	if c.hard.IsZero() {
		// An open connection: written behind, so that the caller
		// (amqp091-go, its connection's send lock held) returns at once,
		// and the frames written while the flusher is in the kernel go out
		// together in its next write.
		c.backlog = append(c.backlog[:0], p...)
		c.flushing = true
		go c.flush()
		return len(p), nil
	}
	c.armGrace()
	n, err := c.Conn.Write(p)
	if err == nil {
		return n, nil
	}
	if !isTimeout(err) || c.hardPassed() {
		c.err = err
		return n, err
	}
	// The socket is full: the rest goes out in the background.
	c.backlog = append(c.backlog[:0], p[n:]...)
	c.flushing = true
	go c.flush()
	return len(p), nil
}

// armGrace bounds the next socket write by writeGrace, or by the outside
// deadline when sooner. Only the writes made in place use it: those of a
// handshake or a close, a few per connection.
func (c *stallConn) armGrace() {
	d := time.Now().Add(writeGrace)
	if c.hard.Before(d) {
		d = c.hard
	}
	_ = c.Conn.SetWriteDeadline(d)
}

func (c *stallConn) hardPassed() bool {
	return !c.hard.IsZero() && !time.Now().Before(c.hard)
}

// flush writes the backlog without a grace deadline (only the outside one)
// until it is empty; a failed write closes the connection, which amqp091-go
// notices on its next read.
func (c *stallConn) flush() {
	c.mu.Lock()
	_ = c.Conn.SetWriteDeadline(c.hard)
	for {
		buf := c.backlog
		c.mu.Unlock()
		_, err := c.Conn.Write(buf)
		c.mu.Lock()
		if err != nil {
			if c.err == nil {
				c.err = fmt.Errorf("broker: write to broker: %w", err)
			}
			c.backlog, c.pending, c.flushing = nil, nil, false
			c.mu.Unlock()
			_ = c.Conn.Close()
			return
		}
		if len(c.pending) == 0 {
			c.backlog = keepable(buf)
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.backlog, c.pending = c.pending, keepable(buf)
	}
}

// keepBuffer is the largest write buffer a connection keeps for its next
// writes: enough for the frames of many calls at once; the buffer of a
// large message or a stall's backlog is let go once written.
const keepBuffer = 256 << 10

func keepable(buf []byte) []byte {
	if cap(buf) > keepBuffer {
		return nil
	}
	return buf[:0]
}

func (c *stallConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *stallConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hard = t
	if c.flushing {
		// Applies to the flush under way too: a close must not wait on a
		// dead link forever.
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
