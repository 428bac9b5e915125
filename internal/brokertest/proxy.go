package brokertest

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Mode is what a Proxy does with traffic.
type Mode int

const (
	// Pass forwards traffic both ways (and heals a Blackhole: held data flows on).
	Pass Mode = iota
	// Reset sends RST on every current connection and resets new ones at once.
	Reset
	// Blackhole keeps every socket open and forwards nothing, like a cut
	// cable: no RST, no FIN. New connections are accepted and go nowhere.
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy is a TCP proxy on 127.0.0.1 in front of one broker.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed and replaced at every SetMode
	links   map[*link]struct{}
	closed  bool

	wg sync.WaitGroup
}

// link is one proxied connection.
type link struct {
	client net.Conn
	mu     sync.Mutex
	server net.Conn // nil until dialled
	done   chan struct{}
	once   sync.Once
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to target
// (host:port). The proxy is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("brokertest: proxy listen: %v", err)
	}
	p := &Proxy{target: target, ln: ln, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// ProxyTo is NewProxy in front of the broker of an amqp:// URL.
func ProxyTo(t testing.TB, brokerURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatalf("brokertest: proxy to %q: %v", brokerURL, err)
	}
	return NewProxy(t, u.Host)
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is an amqp:// URL through the proxy with the given credentials.
func (p *Proxy) URL(user, pass string) string {
	u := url.URL{Scheme: "amqp", User: url.UserPassword(user, pass), Host: p.Addr(), Path: "/"}
	return u.String()
}

// Mode is the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Conns is the number of connections the proxy holds.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// SetMode switches the proxy: Reset resets every current connection,
// Blackhole silences them, Pass heals.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
	var victims []*link
	if m == Reset {
		for l := range p.links {
			victims = append(victims, l)
		}
	}
	p.mu.Unlock()
	for _, l := range victims {
		l.reset()
	}
}

// Close stops listening, resets every connection and waits for the proxy's
// goroutines. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.changed)
	p.changed = make(chan struct{})
	var victims []*link
	for l := range p.links {
		victims = append(victims, l)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, l := range victims {
		l.reset()
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed || p.mode == Reset {
			p.mu.Unlock()
			l.reset()
			continue
		}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		l.reset()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	l.mu.Lock()
	select {
	case <-l.done: // reset while dialling
		l.mu.Unlock()
		server.Close()
		return
	default:
	}
	l.server = server
	l.mu.Unlock()
	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); p.pump(l, server, l.client) }()
	go func() { defer pumps.Done(); p.pump(l, l.client, server) }()
	pumps.Wait()
}

// pump copies src to dst while the mode lets it; a finished direction ends
// the whole link.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	defer l.reset()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitPass(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitPass holds data while the proxy is a blackhole; false means drop the link.
func (p *Proxy) waitPass(l *link) bool {
	for {
		p.mu.Lock()
		mode, changed, closed := p.mode, p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed || mode == Reset:
			return false
		case mode == Pass:
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

// reset closes both sockets with SO_LINGER 0, so the peers get RST.
func (l *link) reset() {
	l.once.Do(func() {
		close(l.done)
		l.mu.Lock()
		server := l.server
		l.mu.Unlock()
		for _, c := range []net.Conn{l.client, server} {
			if c == nil {
				continue
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
	})
}
