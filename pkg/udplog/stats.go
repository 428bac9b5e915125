package udplog

import (
	"net"
	"time"

	"github.com/ThreeDotsLabs/watermill"
)

// Stats counts what a collector saw.
type Stats struct {
	Received    uint64 // datagrams read from the socket
	Written     uint64 // lines handed to the file
	Bad         uint64 // datagrams dropped as bad input (sum of the next three)
	TooLarge    uint64
	NotJSON     uint64 // not a JSON object, missing level or msg, or invalid UTF-8
	BadPickle   uint64 // Python datagrams that were malformed or unsafe
	WriteErrors uint64
	QueueDrops  uint64 // small datagrams dropped because the queue to the writer was full
	// Shed counts large datagrams (over 32 KiB of JSON or 4 KiB of pickle)
	// dropped unread because all 64 slots for them were taken: the
	// collector was behind a flood of them. Small records are not shed.
	Shed uint64
	// Capped counts records written with a value or the line cut to the
	// work budget (see MaxLineSize); they are in Written too.
	Capped      uint64
	Bytes       uint64 // bytes of the lines written, newlines included
	Rotations   uint64 // times the file was rotated (at midnight or at its size limit)
	KernelDrops uint64 // datagrams the kernel dropped (receive buffer full), when known
	ReadBuffer  int    // receive buffer the kernel granted, bytes
	KernelKnown bool   // KernelDrops is meaningful
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Received:    s.received.Load(),
		Written:     s.written.Load(),
		TooLarge:    s.tooLarge.Load(),
		NotJSON:     s.notJSON.Load(),
		BadPickle:   s.badPickle.Load(),
		WriteErrors: s.writeErrors.Load(),
		QueueDrops:  s.queueDrops.Load(),
		Shed:        s.shed.Load(),
		Capped:      s.capped.Load(),
		Bytes:       s.bytes.Load(),
		Rotations:   s.file.rotations.Load(),
		ReadBuffer:  s.rcvbuf,
	}
	st.Bad = st.TooLarge + st.NotJSON + st.BadPickle
	if a, ok := s.conn.LocalAddr().(*net.UDPAddr); ok {
		st.KernelDrops, st.KernelKnown = kernelDrops(a)
	}
	return st
}

// tick flushes the file regularly and logs the drop counts: every
// StatsInterval when they changed, and shedding also the moment it starts,
// then at most once every StatsInterval.
func (s *Server) tick() {
	defer s.wg.Done()
	flush := time.NewTicker(s.cfg.FlushInterval)
	defer flush.Stop()
	stats := time.NewTicker(s.cfg.StatsInterval)
	defer stats.Stop()
	var lastBad, lastOverload, lastShed uint64
	var shedLogged time.Time
	for {
		select {
		case <-s.closing:
			return
		case <-flush.C:
			if err := s.Flush(); err != nil {
				s.logger.Error("udplog: flush", err, nil)
			}
		case <-s.shedding:
			if now := time.Now(); shedLogged.IsZero() || now.Sub(shedLogged) >= s.cfg.StatsInterval {
				n := s.shed.Load()
				s.logger.Info("udplog: shedding large datagrams: decoding is behind a flood of them", watermill.LogFields{
					"shed": n - lastShed, "shed_total": n, "slots": largeSlots, "written_total": s.written.Load(),
				})
				lastShed, shedLogged = n, now
			}
		case <-stats.C:
			st := s.Stats()
			overload := st.KernelDrops + st.QueueDrops + st.Shed
			if st.Bad != lastBad || overload != lastOverload {
				s.logger.Info("udplog: dropped datagrams", watermill.LogFields{
					"bad": st.Bad - lastBad, "too_large": st.TooLarge, "not_json": st.NotJSON,
					"bad_pickle": st.BadPickle, "overload_drops": overload - lastOverload,
					"bad_total": st.Bad, "kernel_total": st.KernelDrops, "queue_total": st.QueueDrops,
					"shed_total": st.Shed,
				})
				lastBad, lastOverload = st.Bad, overload
			}
		}
	}
}
