package udplog

import (
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Hook is a logrus hook that sends every entry to a collector as one
// datagram in logrus.JSONFormatter's layout (times with nanoseconds), with
// "pid" and "host" added.
// Fire never blocks and never returns an error: see Client.
type Hook struct {
	client *Client
	levels []logrus.Level
	pid    int
	host   string
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
		client: c,
		levels: cfg.Levels,
		pid:    os.Getpid(),
		host:   cfg.Host,
	}, nil
}

// Levels implements logrus.Hook.
func (h *Hook) Levels() []logrus.Level { return h.levels }

// Fire implements logrus.Hook; it always returns nil.
func (h *Hook) Fire(entry *logrus.Entry) error {
	bp := hookBuffers.Get().(*[]byte)
	b := h.appendEntry((*bp)[:0], entry)
	h.client.Send(b)
	if cap(b) <= 64<<10 {
		*bp = b
		hookBuffers.Put(bp)
	}
	return nil
}

var hookBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendEntry writes entry as logrus.JSONFormatter would (a field named
// like a standard key is renamed fields.KEY), with pid and host added.
func (h *Hook) appendEntry(b []byte, entry *logrus.Entry) []byte {
	b = append(b, `{"time":"`...)
	b = entry.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, entry.Level.String()...)
	b = append(b, `","msg":`...)
	b = appendJSONString(b, entry.Message)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(h.pid), 10)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, h.host)
	if c := entry.Caller; c != nil {
		b = append(b, `,"func":`...)
		b = appendJSONString(b, c.Function)
		b = append(b, `,"file":`...)
		b = appendJSONString(b, c.File+":"+strconv.Itoa(c.Line))
	}
	for k, v := range entry.Data {
		switch k {
		case "time", "level", "msg", "pid", "host", "func", "file", "logrus_error":
			k = "fields." + k
		}
		b = append(b, ',')
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONValue(b, v)
	}
	return append(b, '}')
}

// Client is the hook's client, for its counters.
func (h *Hook) Client() *Client { return h.client }

// Close closes the socket.
func (h *Hook) Close() error { return h.client.Close() }
