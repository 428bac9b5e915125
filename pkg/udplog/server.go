package udplog

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// DefaultAddr is where the collector listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9999"

// ServerConfig configures a collector.
type ServerConfig struct {
	// Addr is the UDP address to listen on; default DefaultAddr.
	Addr string
	// File is the log file. Required.
	File string
	// Keep is how many rotated files to keep; 0 means 15 (py-servicebus's
	// default), a negative number keeps all.
	Keep int
	// MaxSize, when > 0, also rotates the file once it would pass this many bytes.
	MaxSize int64
	// Format is the line layout; default FormatText.
	Format Format
	// PIDFile, when set, is written with the process id at start and
	// removed at Close.
	PIDFile string
	// OnStart runs once the socket is bound and the file open, before the
	// first datagram is read (py-servicebus passed a callback here).
	OnStart func(addr net.Addr) error
	// ReadBuffer is the socket receive buffer asked for; default 32 MiB (Linux
	// doubles it; above net.core.rmem_max only with CAP_NET_ADMIN).
	ReadBuffer int
	// QueueBytes bounds the small datagrams read but not yet written, in
	// bytes counted by their decoding cost (a byte of pickle counts 8);
	// default 64 MiB. Large datagrams have their own 64 slots (see Stats.Shed).
	QueueBytes int
	// FlushInterval bounds how long a written record waits in memory; default 200 ms.
	FlushInterval time.Duration
	// StatsInterval is how often dropped-datagram counts are logged; default 1 min.
	StatsInterval time.Duration
	// Now and Location are the clock and zone of rotation; defaults
	// time.Now and time.Local. Tests inject a clock here.
	Now      func() time.Time
	Location *time.Location
}

func (c *ServerConfig) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Keep == 0 {
		c.Keep = 15
	}
	if c.Format == "" {
		c.Format = FormatText
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = 32 << 20
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = 64 << 20
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Location == nil {
		c.Location = time.Local
	}
}

// Validate reports every problem of the config at once.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.File == "" {
		errs = append(errs, errors.New("File: required"))
	}
	if c.Format != FormatText && c.Format != FormatJSON {
		errs = append(errs, fmt.Errorf("Format: %q is neither %q nor %q", c.Format, FormatText, FormatJSON))
	}
	if c.MaxSize < 0 {
		errs = append(errs, errors.New("MaxSize: negative"))
	}
	if c.ReadBuffer < 0 {
		errs = append(errs, errors.New("ReadBuffer: negative"))
	}
	if c.QueueBytes < 0 {
		errs = append(errs, errors.New("QueueBytes: negative"))
	} else if c.QueueBytes > 0 && c.QueueBytes < MaxRecordSize {
		errs = append(errs, fmt.Errorf("QueueBytes: below MaxRecordSize (%d)", MaxRecordSize))
	}
	if c.FlushInterval < 0 || c.StatsInterval < 0 {
		errs = append(errs, errors.New("FlushInterval, StatsInterval: negative"))
	}
	if _, err := net.ResolveUDPAddr("udp", c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("Addr: %w", err))
	}
	return errors.Join(errs...)
}

// Server is a UDP log collector: every datagram is one record, written as
// one line to one file that it rotates.
type Server struct {
	cfg    ServerConfig
	logger watermill.LoggerAdapter
	conn   *net.UDPConn
	rcvbuf int

	mu   sync.Mutex // guards file
	file *rotatingFile

	inbox *inbox

	received, written, tooLarge, notJSON, badPickle, writeErrors, queueDrops atomic.Uint64
	shed, capped, bytes                                                      atomic.Uint64

	shedding chan struct{} // a datagram was shed: tick logs it

	closing   chan struct{}
	drainEnd  time.Time     // set before closing is closed
	readDone  chan struct{} // closed when the reader returned
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// NewServer binds the socket, opens the file, writes the pid file, runs
// OnStart and starts collecting. A nil logger logs nothing.
func NewServer(cfg ServerConfig, logger watermill.LoggerAdapter) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	addr, _ := net.ResolveUDPAddr("udp", cfg.Addr)
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, logger: logger, conn: conn, closing: make(chan struct{}), readDone: make(chan struct{}),
		shedding: make(chan struct{}, 1),
		inbox:    newInbox(cfg.QueueBytes)}
	s.rcvbuf, err = setReadBuffer(conn, cfg.ReadBuffer)
	if err != nil {
		logger.Error("udplog: cannot set receive buffer", err, watermill.LogFields{"asked": cfg.ReadBuffer})
	}
	s.file = &rotatingFile{path: cfg.File, keep: cfg.Keep, maxSize: cfg.MaxSize, now: cfg.Now, loc: cfg.Location}
	if err := s.file.open(); err != nil {
		conn.Close()
		return nil, err
	}
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			conn.Close()
			s.file.close()
			return nil, err
		}
	}
	if cfg.OnStart != nil {
		if err := cfg.OnStart(conn.LocalAddr()); err != nil {
			close(s.readDone)
			s.shutdown()
			return nil, fmt.Errorf("udplog: start hook: %w", err)
		}
	}
	logger.Info("udplog: collecting", watermill.LogFields{"addr": conn.LocalAddr().String(), "file": cfg.File, "rcvbuf": s.rcvbuf})
	s.wg.Add(2)
	go s.read()
	go s.write()
	go s.tick()
	return s, nil
}

// Addr is the address the collector listens on.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// read empties the socket into the inbox.
func (s *Server) read() {
	defer close(s.readDone)
	br, err := newBatchReader(s.conn)
	if err != nil {
		s.logger.Error("udplog: cannot read socket", err, nil)
		return
	}
	push := func(b []byte) {
		s.received.Add(1)
		if len(b) > MaxRecordSize {
			s.tooLarge.Add(1)
			return
		}
		switch s.inbox.push(b) {
		case queueFull:
			s.queueDrops.Add(1)
		case shed:
			s.shed.Add(1)
			select {
			case s.shedding <- struct{}{}: // tick logs it, at most once a StatsInterval
			default:
			}
		}
	}
	for {
		if err := br.read(push); err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			continue // e.g. ICMP errors reported on the socket
		}
		select {
		case <-s.closing:
			// Draining at Close: read on while datagrams keep coming, within bounds.
			if time.Now().After(s.drainEnd) {
				return
			}
			s.conn.SetReadDeadline(time.Now().Add(drainQuiet))
		default:
		}
	}
}

// write decodes queued datagrams and writes their lines, until the reader
// is done and the inbox empty. Small datagrams go first: between two of
// their batches it decodes one large datagram, so a flood of large ones
// delays a small record by one decode at most, and cannot starve.
func (s *Server) write() {
	defer s.wg.Done()
	var items, chunks [][]byte
	line := make([]byte, 0, 4<<10)
	for {
		done := false
		select {
		case <-s.inbox.ready:
		case <-s.readDone:
			done = true
		}
		for {
			items, chunks = s.inbox.take(items, chunks)
			for i, b := range items {
				line = s.writeDatagram(line[:0], b)
				items[i] = nil
			}
			s.inbox.recycle(chunks)
			b, ok := s.inbox.takeLarge()
			if ok {
				line = s.writeDatagram(line[:0], b)
				s.inbox.releaseLarge(b)
			}
			if !ok && len(items) == 0 {
				break
			}
		}
		if done {
			return
		}
	}
}

func (s *Server) writeDatagram(line, b []byte) []byte {
	rec, err := DecodeDatagram(b, s.cfg.Now())
	if err != nil {
		s.countBad(err)
		return line
	}
	line, cut := appendLine(line, &rec, s.cfg.Format, s.cfg.Location)
	if cut || rec.capped {
		s.capped.Add(1)
	}
	s.mu.Lock()
	err = s.file.writeLine(line)
	s.mu.Unlock()
	s.written.Add(1)
	if err == nil {
		s.bytes.Add(uint64(len(line)))
	}
	if err != nil {
		// A full disk fails every line: log the 1st, 2nd, 4th, 8th... failure.
		if n := s.writeErrors.Add(1); n&(n-1) == 0 {
			s.logger.Error("udplog: write", err, watermill.LogFields{"write_errors": n})
		}
	}
	if cap(line) > 2*MaxLineSize {
		line = make([]byte, 0, 4<<10)
	}
	return line
}

func (s *Server) countBad(err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		s.tooLarge.Add(1)
	case errors.Is(err, ErrBadPickle):
		s.badPickle.Add(1)
	default:
		s.notJSON.Add(1)
	}
}

// Flush writes every line received so far to the file.
func (s *Server) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file.f == nil && len(s.file.pending) == 0 {
		return nil
	}
	return s.file.flush()
}

// Reopen flushes and closes the file and opens its path again: send
// SIGHUP after logrotate moved the file away.
func (s *Server) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return ErrClosed
	default:
	}
	return s.file.reopen()
}

// drainQuiet and drainMax bound the reading of queued datagrams at Close.
const (
	drainQuiet = 20 * time.Millisecond
	drainMax   = time.Second
)

// Close reads the datagrams already queued in the socket (until it has been
// quiet for 20 ms, at most 1 s), writes them, closes the file and removes the
// pid file. Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.drainEnd = time.Now().Add(drainMax)
		close(s.closing)
		s.conn.SetReadDeadline(time.Now().Add(drainQuiet))
		s.closeErr = s.shutdown()
		st := s.Stats()
		s.logger.Info("udplog: closed", watermill.LogFields{"received": st.Received, "written": st.Written, "bad": st.Bad,
			"shed": st.Shed, "capped": st.Capped})
	})
	return s.closeErr
}

func (s *Server) shutdown() error {
	<-s.readDone
	err := s.conn.Close()
	s.wg.Wait()
	s.mu.Lock()
	err = errors.Join(err, s.file.close())
	s.mu.Unlock()
	if s.cfg.PIDFile != "" {
		if rerr := os.Remove(s.cfg.PIDFile); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
