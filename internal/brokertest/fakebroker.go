package brokertest

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeBroker is a listener on 127.0.0.1 that plays a broker in trouble, for
// tests of deadlines and refusals: one that accepts TCP and never speaks
// (NewSilentBroker: for amqps URLs, a TLS handshake that stalls), one that
// speaks AMQP up to the login and refuses it only after a delay
// (NewSlowRefusal), or one whose TLS certificate a client may not trust
// (NewTLSBroker).
type FakeBroker struct {
	ln     net.Listener
	tls    *tls.Config
	silent bool
	after  time.Duration // before the refusal
	code   int
	reason string

	accepted  atomic.Int64
	logins    atomic.Int64 // connection.start-ok frames read
	failClose atomic.Bool  // a login asked for authentication_failure_close

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// NewSilentBroker accepts TCP connections and never sends a byte; it closes
// them when the test ends.
func NewSilentBroker(t testing.TB) *FakeBroker {
	return newFakeBroker(t, &FakeBroker{silent: true})
}

// NewSlowRefusal answers the AMQP protocol header with connection.start,
// reads the client's start-ok, waits after, then refuses with
// connection.close code reason (say 403 "ACCESS_REFUSED - ...") and closes
// the socket: a broker that takes its time to say no.
func NewSlowRefusal(t testing.TB, after time.Duration, code int, reason string) *FakeBroker {
	return newFakeBroker(t, &FakeBroker{after: after, code: code, reason: reason})
}

// NewTLSBroker completes TLS handshakes with the certificate in certFile
// and keyFile (PEM), then never speaks: a client that does not trust the
// certificate gives up during the handshake.
func NewTLSBroker(t testing.TB, certFile, keyFile string) *FakeBroker {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("brokertest: TLS fake broker: %v", err)
	}
	return newFakeBroker(t, &FakeBroker{silent: true, tls: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
}

func newFakeBroker(t testing.TB, f *FakeBroker) *FakeBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("brokertest: fake broker listen: %v", err)
	}
	f.ln, f.conns, f.done = ln, map[net.Conn]struct{}{}, make(chan struct{})
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

// Addr is host:port.
func (f *FakeBroker) Addr() string { return f.ln.Addr().String() }

// Port is the listening port.
func (f *FakeBroker) Port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// URL is an amqp:// (or with tls amqps://) URL of the fake with credentials.
func (f *FakeBroker) URL(scheme, user, pass string) string {
	u := url.URL{Scheme: scheme, User: url.UserPassword(user, pass), Host: f.Addr(), Path: "/"}
	return u.String()
}

// Accepted is the number of TCP connections accepted so far.
func (f *FakeBroker) Accepted() int { return int(f.accepted.Load()) }

// Logins is the number of connection.start-ok frames read so far.
func (f *FakeBroker) Logins() int { return int(f.logins.Load()) }

// AskedFailureClose reports whether a login listed the client capability
// authentication_failure_close (to RabbitMQ: say why you refuse a login).
func (f *FakeBroker) AskedFailureClose() bool { return f.failClose.Load() }

// Close stops listening and closes every connection. It is idempotent.
func (f *FakeBroker) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	close(f.done)
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	_ = f.ln.Close()
	f.wg.Wait()
}

func (f *FakeBroker) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepted.Add(1)
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			_ = c.Close()
			return
		}
		f.conns[c] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go f.serve(c)
	}
}

func (f *FakeBroker) serve(c net.Conn) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		_ = c.Close()
	}()
	if f.tls != nil {
		tc := tls.Server(c, f.tls)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	if f.silent {
		<-f.done
		return
	}
	header := make([]byte, 8)
	if _, err := io.ReadFull(c, header); err != nil || !bytes.HasPrefix(header, []byte("AMQP")) {
		return
	}
	if _, err := c.Write(connectionStart()); err != nil {
		return
	}
	payload, err := readMethodFrame(c)
	if err != nil || len(payload) < 4 || binary.BigEndian.Uint16(payload[2:4]) != 11 {
		return
	}
	f.logins.Add(1)
	if bytes.Contains(payload, []byte("authentication_failure_close")) {
		f.failClose.Store(true)
	}
	select {
	case <-time.After(f.after):
	case <-f.done:
		return
	}
	if _, err := c.Write(connectionClose(f.code, f.reason)); err != nil {
		return
	}
	// The client answers close-ok; then the socket goes.
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = readMethodFrame(c)
}

// methodFrame is an AMQP 0-9-1 method frame on channel 0.
func methodFrame(payload []byte) []byte {
	out := []byte{1, 0, 0}
	out = binary.BigEndian.AppendUint32(out, uint32(len(payload)))
	out = append(out, payload...)
	return append(out, 0xCE)
}

// connectionStart is connection.start: 0-9, no server properties, PLAIN.
func connectionStart() []byte {
	p := []byte{0, 10, 0, 10, 0, 9}
	p = binary.BigEndian.AppendUint32(p, 0) // server-properties: empty table
	for _, s := range []string{"PLAIN AMQPLAIN", "en_US"} {
		p = binary.BigEndian.AppendUint32(p, uint32(len(s)))
		p = append(p, s...)
	}
	return methodFrame(p)
}

// connectionClose is connection.close with code and reason.
func connectionClose(code int, reason string) []byte {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	p := []byte{0, 10, 0, 50}
	p = binary.BigEndian.AppendUint16(p, uint16(code))
	p = append(p, byte(len(reason)))
	p = append(p, reason...)
	p = append(p, 0, 0, 0, 0) // class-id, method-id
	return methodFrame(p)
}

// readMethodFrame reads one frame and returns its payload.
func readMethodFrame(r io.Reader) ([]byte, error) {
	head := make([]byte, 7)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(head[3:7])
	if size > 1<<20 {
		return nil, fmt.Errorf("brokertest: frame of %s bytes", strconv.FormatUint(uint64(size), 10))
	}
	body := make([]byte, size+1)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body[:size], nil
}
