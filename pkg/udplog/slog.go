package udplog

import (
	"log/slog"
	"os"
)

// NewSlogHandler returns a log/slog handler that sends every record to the
// collector through c as one datagram: slog's JSON layout ("time", "level",
// "msg", attributes) with "pid" and "host" added. It never blocks: see
// Client. opts may be nil.
func NewSlogHandler(c *Client, opts *slog.HandlerOptions) slog.Handler {
	host, _ := os.Hostname()
	return slog.NewJSONHandler(datagramWriter{c}, opts).WithAttrs([]slog.Attr{
		slog.Int("pid", os.Getpid()),
		slog.String("host", host),
	})
}

// datagramWriter turns each Write into one datagram; slog's JSON handler
// makes exactly one Write a record.
type datagramWriter struct{ c *Client }

func (w datagramWriter) Write(b []byte) (int, error) {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	w.c.Send(b)
	return n, nil
}
