package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/internal/ratelog"
	"github.com/go-servicebus/servicebus/internal/tracing"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// Sender calls and sends to NODE.CATEGORY.NAME over one connection per
// broker, shared by all goroutines. See the package documentation.
type Sender struct {
	cfg      Config
	logger   watermill.LoggerAdapter
	pub      *publish.Publisher
	exchange string
	paths    []*replyPath
	calls    *callTable
	tr       tracing.Tracing

	idPrefix string
	seq      atomic.Uint64
	// flushID is the correlation id of the sender's own flush messages
	// (flushBody): random, apart from the call ids.
	flushID string

	// verifier checks reply signatures when the Signer's scheme signs
	// replies (hmac mode); nil accepts every reply (daily mode, no tokens).
	verifier  token.ReplyVerifier
	stats     senderStats
	rejectLog ratelog.Limiter
	releasing atomic.Bool // a release of dropped replies' memory is pending

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // reply consumers, ping queue closes
}

// NewSender starts connecting to every broker in the background and returns
// at once; calls made before a broker is up wait for one (up to their
// deadline). It sets the defaults of cfg, then validates it. A nil logger
// logs nothing.
func NewSender(cfg Config, logger watermill.LoggerAdapter) (*Sender, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rpc: invalid config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("rpc: random id prefix: %w", err)
	}
	s := &Sender{
		cfg:      cfg,
		logger:   logger,
		exchange: cfg.Topology.ExchangeName(),
		calls:    newCallTable(),
		tr:       tracing.New(cfg.TracerProvider, cfg.Propagator),
		idPrefix: hex.EncodeToString(rnd[:8]) + "-",
		flushID:  "flush-" + hex.EncodeToString(rnd[8:]),
		closing:  make(chan struct{}),
	}
	s.verifier, _ = cfg.Signer.(token.ReplyVerifier)
	for range cfg.Endpoints {
		s.paths = append(s.paths, &replyPath{})
	}
	var obs publish.Observer
	if cfg.Observer != nil {
		obs = cfg.Observer
	}
	pub, err := publish.New(publish.Config{
		Endpoints:      cfg.Endpoints,
		Backoff:        cfg.Backoff,
		ProbeInterval:  cfg.ProbeInterval,
		ConfirmTimeout: cfg.ConfirmTimeout,
		PublishTimeout: cfg.CallTimeout,
		PreferPrimary:  cfg.PreferPrimary,
		OnUp:           s.onUp,
		OnDown:         s.onDown,
		Observer:       obs,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	s.pub = pub
	return s, nil
}

// Close fails waiting calls with ErrClosed, closes every connection and
// waits for the background goroutines. It is idempotent.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		_ = s.pub.Close()
		s.calls.failAll(ErrClosed)
		s.wg.Wait()
	})
	return nil
}

func (s *Sender) closed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// newID is a correlation and message id no other sender uses: a random
// prefix per sender and a counter.
func (s *Sender) newID() string {
	// Appended in a buffer on the stack: one heap object (the string), not
	// two (the number's text and the concatenation).
	var buf [64]byte
	return string(strconv.AppendUint(append(buf[:0], s.idPrefix...), s.seq.Add(1), 36))
}

// BrokerStatus is the state of one broker's connection as the sender sees
// it.
type BrokerStatus struct {
	Endpoint string // the broker, without credentials
	// Connected: the connection is open (it may still be setting up, or be
	// blocked).
	Connected bool
	// Ready: connected, set up (exchange declared, reply consumer running)
	// and not blocked: calls and sends go out on it now.
	Ready bool
	// Blocked: the broker blocks publishers (a memory or disk alarm).
	Blocked bool
	// Err is why the last connect or set-up failed, or why the connection
	// was lost; nil while it never failed. It matches broker.ErrRefused when
	// the last attempt was refused in a way retrying does not heal.
	Err error
	// Connects counts the connections set up since NewSender; Failures the
	// connects or set-ups that failed since the last one that worked (or
	// since NewSender).
	Connects, Failures int
}

// Status is the state of every broker, in config order: what a command
// line tool prints when no broker took a call.
func (s *Sender) Status() []BrokerStatus {
	out := make([]BrokerStatus, s.pub.Paths())
	for i := range out {
		p := s.pub.Path(i)
		st := p.State()
		out[i] = BrokerStatus{
			Endpoint:  s.cfg.Endpoints[i].String(),
			Connected: p.Conn() != nil,
			Ready:     s.pub.Ready(i),
			Blocked:   st.Blocked,
			Err:       st.Err,
			Connects:  st.Connects,
			Failures:  st.Failures,
		}
	}
	return out
}

// Changed returns a channel that is closed at the next change of any
// broker's state (see Status).
func (s *Sender) Changed() <-chan struct{} { return s.pub.Changed() }
