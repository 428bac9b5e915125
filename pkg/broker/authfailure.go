package broker

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync/atomic"
)

// A broker that refuses a login says so (connection.close 403
// ACCESS_REFUSED) only to a client whose connection.start-ok lists the
// capability authentication_failure_close. To any other RabbitMQ closes the
// socket without a word, and only after a 3-second delay: a wrong password
// would look like a broker gone silent, cost 3 s, and could not be told
// from a network failure. amqp091-go writes the capabilities table itself
// (it replaces Config.Properties' "capabilities") and has no way to add
// one, so authCapConn adds it to the start-ok frame on its way to the
// socket. It is the only frame touched, once; a frame it cannot read goes
// out as it is (the login then fails the slow, silent way).
type authCapConn struct {
	net.Conn
	done atomic.Bool // start-ok has gone out
}

// authFailureClose is the capability authCapConn adds.
const authFailureClose = "authentication_failure_close"

var protocolHeader = []byte("AMQP")

func newAuthCapConn(c net.Conn) *authCapConn { return &authCapConn{Conn: c} }

func (c *authCapConn) Write(p []byte) (int, error) {
	if c.done.Load() || bytes.HasPrefix(p, protocolHeader) {
		return c.Conn.Write(p)
	}
	// amqp091-go flushes every frame on its own, so the first write after
	// the protocol header is the whole start-ok frame.
	c.done.Store(true)
	amended, ok := withAuthFailureClose(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(amended); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ConnectionState keeps amqp091-go's Connection.ConnectionState working
// under TLS.
func (c *authCapConn) ConnectionState() tls.ConnectionState {
	if s, ok := c.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return s.ConnectionState()
	}
	return tls.ConnectionState{}
}

// withAuthFailureClose returns frame, a connection.start-ok method frame,
// with authentication_failure_close = true added to the capabilities table
// of its client properties; false when frame is not such a frame, cannot be
// read, or has the capability already.
func withAuthFailureClose(frame []byte) ([]byte, bool) {
	const (
		frameMethod          = 1
		frameEnd             = 0xCE
		classConnection      = 10
		methodStartOk        = 11
		headerLen, payloadAt = 7, 7
	)
	if len(frame) < headerLen+1 || frame[0] != frameMethod || frame[1] != 0 || frame[2] != 0 {
		return nil, false
	}
	size := int(binary.BigEndian.Uint32(frame[3:7]))
	if size < 8 || len(frame) != headerLen+size+1 || frame[len(frame)-1] != frameEnd {
		return nil, false
	}
	payload := frame[payloadAt : payloadAt+size]
	if binary.BigEndian.Uint16(payload[0:2]) != classConnection || binary.BigEndian.Uint16(payload[2:4]) != methodStartOk {
		return nil, false
	}
	// payload: class, method, client-properties table (long size, fields),
	// mechanism, response, locale.
	const tableAt = 4
	tableLen := int(binary.BigEndian.Uint32(payload[tableAt : tableAt+4]))
	fields := payload[tableAt+4:]
	if tableLen > len(fields) {
		return nil, false
	}
	fields = fields[:tableLen]
	for off := 0; off < len(fields); {
		keyLen := int(fields[off])
		if off+1+keyLen+1 > len(fields) {
			return nil, false
		}
		key := string(fields[off+1 : off+1+keyLen])
		typ := fields[off+1+keyLen]
		valueAt := off + 1 + keyLen + 1
		n, ok := fieldLen(fields[valueAt:], typ)
		if !ok || valueAt+n > len(fields) {
			return nil, false
		}
		if key != "capabilities" || typ != 'F' {
			off = valueAt + n
			continue
		}
		caps := fields[valueAt+4 : valueAt+n]
		if bytes.Contains(caps, []byte(authFailureClose)) {
			return nil, false
		}
		entry := append([]byte{byte(len(authFailureClose))}, authFailureClose...)
		entry = append(entry, 't', 1)
		capsEnd := tableAt + 4 + valueAt + n // in payload
		out := make([]byte, 0, len(frame)+len(entry))
		out = append(out, frame[:payloadAt]...)
		out = append(out, payload[:capsEnd]...)
		out = append(out, entry...)
		out = append(out, payload[capsEnd:]...)
		out = append(out, frameEnd)
		grow := uint32(len(entry))
		binary.BigEndian.PutUint32(out[3:7], uint32(size)+grow)
		p := out[payloadAt:]
		binary.BigEndian.PutUint32(p[tableAt:], uint32(tableLen)+grow)
		capsLenAt := tableAt + 4 + valueAt
		binary.BigEndian.PutUint32(p[capsLenAt:], binary.BigEndian.Uint32(p[capsLenAt:])+grow)
		return out, true
	}
	return nil, false
}

// fieldLen is the length of an AMQP 0-9-1 field value of type typ at the
// start of b (RabbitMQ's types, as amqp091-go writes them).
func fieldLen(b []byte, typ byte) (int, bool) {
	switch typ {
	case 'V':
		return 0, true
	case 't', 'b', 'B':
		return 1, true
	case 's', 'u':
		return 2, true
	case 'I', 'i', 'f':
		return 4, true
	case 'D':
		return 5, true
	case 'l', 'd', 'T':
		return 8, true
	case 'S', 'A', 'F', 'x':
		if len(b) < 4 {
			return 0, false
		}
		n := int(binary.BigEndian.Uint32(b[:4]))
		if n > len(b)-4 {
			return 0, false
		}
		return 4 + n, true
	}
	return 0, false
}
