package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/go-servicebus/servicebus/pkg/metrics"
	"github.com/go-servicebus/servicebus/pkg/udplog"
)

const logdDescription = `Run the UDP log collector: every datagram sent to --listen is one record
(a JSON object with level, msg, time — the output of udplog.Hook, logrus'
JSONFormatter or the slog handler — or a Python logging.handlers.DatagramHandler
record), written as one line to --file. The file is rotated at midnight
(FILE.YYYY-MM-DD, --keep of them kept) and, with --max-size, when it grows
past that size. SIGHUP reopens the file (for logrotate); SIGTERM and SIGINT
write what was received and stop. Bad datagrams are counted, dropped and
reported on stderr every --stats-interval. Every datagram has a work budget:
huge values become short markers and a line is at most 16 KiB. Large
datagrams the collector cannot keep up with are shed, counted and reported at
once (then at most every --stats-interval); small records keep flowing.`

// runLogd runs the collector until SIGTERM or SIGINT. Exit codes: 0 after a
// clean stop, 2 for a usage error, 1 when the collector cannot start or stop
// cleanly (address in use, file not writable).
func runLogd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("logd", "logd [flags]", logdDescription)
	listen := fs.String("listen", udplog.DefaultAddr, "UDP `address` to listen on")
	file := fs.String("file", "servicebus.log", "log `file`; rotated files are FILE.YYYY-MM-DD")
	keep := fs.Int("keep", 15, "rotated files to keep (-1: all)")
	format := fs.String("format", string(udplog.FormatText), "line format: text ([TIME PID:PID]LEVEL:MESSAGE) or json")
	pidFile := fs.String("pidfile", "", "write the process id to this `file` while running")
	maxSize := fs.String("max-size", "0", "also rotate when the file passes this `size` (bytes, or with K, M, G); 0: off")
	rcvbuf := fs.String("rcvbuf", "32M", "socket receive buffer `size` to ask for")
	utc := fs.Bool("utc", false, "rotate at midnight UTC instead of local midnight")
	statsEvery := fs.Duration("stats-interval", time.Minute, "how often to report dropped datagrams")
	verbose := fs.Bool("v", false, "log debug messages")
	metricsAddr := fs.String("metrics-addr", "", "serve /metrics, /healthz and /readyz at this TCP `host:port`; empty: off")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		return usageErr(stderr, "logd", fmt.Errorf("unexpected argument %q", pos[0]))
	}
	cfg := udplog.ServerConfig{
		Addr:          *listen,
		File:          *file,
		Keep:          *keep,
		Format:        udplog.Format(*format),
		PIDFile:       *pidFile,
		StatsInterval: *statsEvery,
	}
	var errs []error
	if *keep == 0 {
		errs = append(errs, errors.New("--keep: 0 is not a count of files to keep (use -1 for all)"))
	}
	if *statsEvery <= 0 {
		errs = append(errs, errors.New("--stats-interval: must be positive"))
	}
	var err error
	if cfg.MaxSize, err = parseSize(*maxSize); err != nil {
		errs = append(errs, fmt.Errorf("--max-size: %w", err))
	}
	rb, err := parseSize(*rcvbuf)
	if err != nil || rb <= 0 || rb > 1<<30 {
		errs = append(errs, fmt.Errorf("--rcvbuf: %q is not a size between 1 and 1G", *rcvbuf))
	}
	cfg.ReadBuffer = int(rb)
	if *utc {
		cfg.Location = time.UTC
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if *metricsAddr != "" {
		if _, _, err := net.SplitHostPort(*metricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr: %q is not host:port", *metricsAddr))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return usageErr(stderr, "logd", err)
	}

	// Signals are caught before the pid file exists: whoever reads the pid
	// file may signal at once.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	logger := watermill.NewStdLoggerWithOut(stderr, *verbose, false)
	srv, err := udplog.NewServer(cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "servicebus logd: %v\n", err)
		return 1
	}
	var ms *metrics.Server
	if *metricsAddr != "" {
		ms, err = serveLogdMetrics(*metricsAddr, srv, cfg.File)
		if err != nil {
			fmt.Fprintf(stderr, "servicebus logd: %v\n", err)
			_ = srv.Close()
			return 1
		}
		logger.Info("logd: serving metrics", watermill.LogFields{"addr": ms.Addr().String()})
	}
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if err := srv.Reopen(); err != nil {
				logger.Error("logd: reopen after SIGHUP", err, nil)
			} else {
				logger.Info("logd: reopened the file after SIGHUP", watermill.LogFields{"file": cfg.File})
			}
			continue
		}
		logger.Info("logd: stopping", watermill.LogFields{"signal": sig.String()})
		break
	}
	if ms != nil {
		_ = ms.Close()
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "servicebus logd: %v\n", err)
		return 1
	}
	return 0
}

// serveLogdMetrics serves the collector's metrics (and Go's and the
// process's), /healthz and /readyz: ready while it collects.
func serveLogdMetrics(addr string, srv *udplog.Server, file string) (*metrics.Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := metrics.AddUDPLogServer(reg, srv); err != nil {
		return nil, err
	}
	state := struct {
		Ready  bool   `json:"ready"`
		Listen string `json:"listen"`
		File   string `json:"file"`
	}{true, srv.Addr().String(), file}
	// The collector serves from NewServer to Close, and this server closes
	// before it: ready the whole time it answers.
	return metrics.Serve(addr, metrics.Handler(reg, func() (bool, any) { return true, state }))
}

// parseSize reads a byte count with an optional K, M or G suffix (powers of 1024).
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, strings.TrimSuffix(t, "G")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
