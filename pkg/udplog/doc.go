// Package udplog is a UDP log collector for systems of many processes: every
// process sends its log records as datagrams to one collector, which alone
// owns the log file and its rotation, so no two processes fight over a file.
// It is the successor of py-servicebus's LoggingService.
//
// # Nomenclature
//
//   - record: one log entry; one datagram carries exactly one record.
//   - collector: the Server; it listens on a UDP address (DefaultAddr,
//     127.0.0.1:9999) and writes one line a record.
//   - client: a process that logs; it uses the logrus Hook, the log/slog
//     handler (NewSlogHandler), a raw Client, or Python's
//     logging.handlers.DatagramHandler.
//
// # Wire
//
// A datagram is either one UTF-8 JSON object with at least "level" and "msg"
// ("time" as RFC 3339 text or Unix seconds, "pid" as a number; every other
// field is kept), which is what logrus.JSONFormatter and slog's JSON handler
// write, or the datagram of Python's DatagramHandler: a 4-byte big-endian
// length, then a pickled dict of the LogRecord's attributes. Pickles are read
// by a small reader that builds only plain values (None, bool, int, float,
// str, bytes, list, tuple, set, dict) and rejects every opcode that could name
// a class or call a function (GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ,
// STACK_GLOBAL, ...). Datagrams larger than MaxRecordSize (60 KiB), not JSON,
// not valid UTF-8 or unsafe are dropped and counted (Stats), and the counts
// are logged every ServerConfig.StatsInterval.
//
// # Work budget
//
// Whoever can reach the port chooses what the collector decodes, so no
// datagram costs much more than its size. A pickled integer over 32 bytes
// is written as "<int of N bytes>" and never converted to decimal; a
// pickled str over 16 KiB is cut (it ends with "…") and bytes over it are
// marked; a pickle may push at most 20,000 values; shared references,
// cycles and nesting deeper than 32 are refused; a JSON record keeps at
// most 256 fields. A line is at most MaxLineSize (16 KiB): a longer record
// is cut, and the line says so. Records cut this way are written and
// counted (Stats.Capped).
//
// # Files
//
// Lines are py-servicebus's layout, [TIME PID:PID]LEVEL:MESSAGE followed by
// the other fields as key=JSON, or JSON lines (FormatJSON). Control
// characters are escaped, so a record is always one line, and lines are
// written whole. At local midnight the file is renamed FILE.YYYY-MM-DD (the
// day it covers); with MaxSize it is also renamed FILE.YYYY-MM-DD.N when it
// would pass that size; only the newest Keep renamed files are kept (15 by
// default). Reopen (SIGHUP in `servicebus logd`) opens the path anew after
// logrotate moved the file.
//
// # Loss
//
// UDP has no flow control: a datagram the collector cannot take is lost.
// Clients never block and never fail the application; they drop and count
// (Client.Dropped). The collector reads with recvmmsg into an in-memory queue
// (ServerConfig.QueueBytes) separate from decoding and writing, with a large
// socket buffer (ServerConfig.ReadBuffer, forced past net.core.rmem_max when
// the process may), and reports the kernel's drop count for its socket
// (Stats.KernelDrops).
//
// Each datagram's decoding cost is estimated from its size before any work
// (a byte of pickle counts 8, a byte of JSON 1). Small ones, which are
// nearly all log records, share the queue, bounded by that cost, so a full
// queue drains in about the same time whatever fills it. Large ones (over
// 32 KiB of JSON or 4 KiB of pickle) wait in 64 slots, and the writer takes
// one only between two batches of small records: a flood of large datagrams
// fills the slots and the rest is shed (Stats.Shed, logged at once, then at
// most once every StatsInterval), while small records keep flowing, each
// delayed by one large decode at most.
package udplog
