package udplog

import (
	"os"
	"time"

	"github.com/sirupsen/logrus"
)

// Hook is a logrus hook that sends every entry to a collector as one
// datagram in logrus.JSONFormatter's layout, with "pid" and "host" added.
// Fire never blocks and never returns an error: see Client.
type Hook struct {
	client    *Client
	levels    []logrus.Level
	formatter *logrus.JSONFormatter
	pid       int
	host      string
}

// HookConfig configures a Hook.
type HookConfig struct {
	Addr   string         // collector address; default DefaultAddr
	Levels []logrus.Level // default logrus.AllLevels
	Host   string         // the "host" field; default os.Hostname
}

// NewHook dials the collector. Close the hook when done.
func NewHook(cfg HookConfig) (*Hook, error) {
	c, err := Dial(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.Levels == nil {
		cfg.Levels = logrus.AllLevels
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	return &Hook{
		client:    c,
		levels:    cfg.Levels,
		formatter: &logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano},
		pid:       os.Getpid(),
		host:      cfg.Host,
	}, nil
}

// Levels implements logrus.Hook.
func (h *Hook) Levels() []logrus.Level { return h.levels }

// Fire implements logrus.Hook; it always returns nil.
func (h *Hook) Fire(entry *logrus.Entry) error {
	e := *entry // the formatter copies Data; pid and host go in without touching the caller's map
	data := make(logrus.Fields, len(entry.Data)+2)
	data["pid"] = h.pid
	data["host"] = h.host
	for k, v := range entry.Data {
		data[k] = v
	}
	e.Data = data
	e.Buffer = nil
	b, err := h.formatter.Format(&e)
	if err != nil {
		h.client.dropped.Add(1)
		return nil
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	h.client.Send(b)
	return nil
}

// Client is the hook's client, for its counters.
func (h *Hook) Client() *Client { return h.client }

// Close closes the socket.
func (h *Hook) Close() error { return h.client.Close() }
