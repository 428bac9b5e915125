package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-servicebus/servicebus/pkg/udplog"
)

var (
	descUDPWritten = prometheus.NewDesc("servicebus_udplog_records_written_total",
		"Log records the collector wrote to its file.", nil, nil)
	descUDPBytes = prometheus.NewDesc("servicebus_udplog_bytes_written_total",
		"Bytes of the lines the collector wrote, newlines included.", nil, nil)
	descUDPRotations = prometheus.NewDesc("servicebus_udplog_rotations_total",
		"Times the collector rotated its file.", nil, nil)
	descUDPReceived = prometheus.NewDesc("servicebus_udplog_datagrams_received_total",
		"Datagrams the collector read from its socket.", nil, nil)
	descUDPDropped = prometheus.NewDesc("servicebus_udplog_datagrams_dropped_total",
		"Datagrams the collector lost, by where: kernel (receive buffer full), queue (writer behind), shed (large ones in a flood), bad (not a log record).",
		[]string{"where"}, nil)
	descUDPWriteErrors = prometheus.NewDesc("servicebus_udplog_write_errors_total",
		"Lines the collector failed to write to its file.", nil, nil)
	descUDPClientSent = prometheus.NewDesc("servicebus_udplog_client_sent_total",
		"Records a process's udplog client sent.", nil, nil)
	descUDPClientDropped = prometheus.NewDesc("servicebus_udplog_client_dropped_total",
		"Records a process's udplog client dropped instead of sending (socket buffer full, too large).", nil, nil)
)

type udplogServer struct{ s *udplog.Server }

func (c udplogServer) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUDPWritten, descUDPBytes, descUDPRotations, descUDPReceived, descUDPDropped, descUDPWriteErrors} {
		ch <- d
	}
}

func (c udplogServer) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descUDPWritten, st.Written)
	counter(descUDPBytes, st.Bytes)
	counter(descUDPRotations, st.Rotations)
	counter(descUDPReceived, st.Received)
	counter(descUDPDropped, st.QueueDrops, "queue")
	counter(descUDPDropped, st.Shed, "shed")
	counter(descUDPDropped, st.Bad, "bad")
	if st.KernelKnown {
		counter(descUDPDropped, st.KernelDrops, "kernel")
	}
	counter(descUDPWriteErrors, st.WriteErrors)
}

// AddUDPLogServer exports the counters of a udplog collector on reg.
func AddUDPLogServer(reg prometheus.Registerer, s *udplog.Server) error {
	if err := reg.Register(udplogServer{s}); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

type udplogClient struct{ c *udplog.Client }

func (c udplogClient) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUDPClientSent
	ch <- descUDPClientDropped
}

func (c udplogClient) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descUDPClientSent, prometheus.CounterValue, float64(c.c.Sent()))
	ch <- prometheus.MustNewConstMetric(descUDPClientDropped, prometheus.CounterValue, float64(c.c.Dropped()))
}

// AddUDPLogClient exports the counters of a process's udplog client (a
// Hook's Client, or one of Dial) on reg.
func AddUDPLogClient(reg prometheus.Registerer, c *udplog.Client) error {
	if err := reg.Register(udplogClient{c}); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
