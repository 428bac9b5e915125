package udplog

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Client sends records to a collector. Send never blocks and never fails
// the caller: a record that cannot go out (collector down, socket buffer
// full, too large) is dropped and counted. Safe for concurrent use.
type Client struct {
	conn          *net.UDPConn
	raw           syscall.RawConn
	sent, dropped atomic.Uint64
	closed        atomic.Bool
}

// Dial makes a client for the collector at addr ("" = DefaultAddr). The
// collector need not be up: UDP has no connection to make.
func Dial(addr string) (*Client, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &Client{conn: conn, raw: raw}, nil
}

// Send sends one datagram and reports whether it left; it never waits.
func (c *Client) Send(b []byte) bool {
	if len(b) > MaxRecordSize || c.closed.Load() || sendNow(c.conn, c.raw, b) != nil {
		c.dropped.Add(1)
		return false
	}
	c.sent.Add(1)
	return true
}

// Sent is how many datagrams left the socket.
func (c *Client) Sent() uint64 { return c.sent.Load() }

// Dropped is how many records were dropped instead of sent.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Close closes the socket; later sends are dropped. Idempotent.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.conn.Close()
}
