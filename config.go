package servicebus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// TokenMode selects how calls are authenticated.
type TokenMode string

const (
	// TokenDaily is py-servicebus's token: sha1 of the secret and the date,
	// valid for three days and not tied to the message. Needed with Python peers.
	TokenDaily TokenMode = "daily"
	// TokenHMAC signs every call (HMAC-SHA256 with timestamp and replay cache).
	// Python agents cannot check it.
	TokenHMAC TokenMode = "hmac"
	// TokenOff sends no token and accepts every call. Only for closed brokers.
	TokenOff TokenMode = "off"
)

// ReplyMode selects where RPC replies come back to the sender (reply_mode).
type ReplyMode = rpc.ReplyMode

const (
	// ReplyQueue ("queue") is one long-lived exclusive reply queue per broker
	// connection; it works with every agent, py-servicebus's included.
	ReplyQueue = rpc.ReplyQueue
	// ReplyDirect ("direct") is RabbitMQ direct reply-to
	// (amq.rabbitmq.reply-to): no queue, but a reply is lost with its channel.
	ReplyDirect = rpc.ReplyDirect
)

// TLSConfig is the certificate material of amqps connections. Certificates
// and host names are verified unless InsecureSkipVerify says otherwise.
type TLSConfig struct {
	// CAFile is a PEM file of the CAs that sign the brokers' certificates;
	// empty means the system roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ServerName is the name checked in the broker certificate; empty means
	// each host's own name.
	ServerName string `yaml:"server_name" json:"server_name"`
	// InsecureSkipVerify turns certificate verification off. Every connect
	// then logs a warning.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// Config is the configuration of agents, senders and the CLI. The keys of
// py-servicebus keep their names and defaults; every key can be overridden by
// the environment variable SERVICEBUS_<KEY> (nested keys joined with "_":
// SERVICEBUS_TLS_CA_FILE). Durations accept Go duration strings ("1.5s") and
// plain numbers of seconds, as py-servicebus used.
//
// Printing a Config (String, GoString, any fmt verb, JSON, YAML) never shows
// the password or the secret token.
type Config struct {
	// Hosts are the brokers, tried in order by senders and all consumed by
	// agents: "host", "host:port", "[::1]:port", "amqp://host:port" or
	// "amqps://host:port". Without a port, Port (or SSLPort with UseSSL) applies.
	Hosts   []string `yaml:"hosts" json:"hosts"`
	Port    int      `yaml:"port" json:"port"`
	SSLPort int      `yaml:"ssl_port" json:"ssl_port"`
	// UseSSL connects with TLS (amqps) to hosts given without a scheme.
	UseSSL   bool   `yaml:"use_ssl" json:"use_ssl"`
	User     string `yaml:"user" json:"user"`
	Password Secret `yaml:"password" json:"password"`
	VHost    string `yaml:"vhost" json:"vhost"`
	// NodeName is the agent's node: its queue name and routing key.
	NodeName     string `yaml:"node_name" json:"node_name"`
	ExchangeName string `yaml:"exchange_name" json:"exchange_name"`
	// SecretToken is the shared secret of daily and hmac tokens.
	SecretToken Secret    `yaml:"secret_token" json:"secret_token"`
	TokenMode   TokenMode `yaml:"token_mode" json:"token_mode"`
	// TokenTimezone is the zone of the daily token's date: "local" (as
	// py-servicebus), "UTC" or an IANA name.
	TokenTimezone string `yaml:"token_timezone" json:"token_timezone"`
	// TopologyKind is the "topology" key: "compat" or "durable".
	TopologyKind topology.Kind `yaml:"topology" json:"topology"`
	// SocketTimeout bounds connect and handshake (py-servicebus socket_timeout).
	SocketTimeout     time.Duration `yaml:"socket_timeout" json:"socket_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval" json:"heartbeat_interval"`
	// ProbeInterval is the period of the active health probe of every broker.
	ProbeInterval time.Duration `yaml:"probe_interval" json:"probe_interval"`
	// ReconnectMax is the longest wait between reconnect attempts.
	ReconnectMax time.Duration `yaml:"reconnect_max" json:"reconnect_max"`
	// Concurrency is how many deliveries an agent works on at once.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// CallTimeout is the deadline of a call whose context has none.
	CallTimeout time.Duration `yaml:"call_timeout" json:"call_timeout"`
	// DrainTimeout bounds how long Close waits for in-flight work.
	DrainTimeout time.Duration `yaml:"drain_timeout" json:"drain_timeout"`
	// MaxBodySize is the largest message body accepted, in bytes.
	MaxBodySize int       `yaml:"max_body_size" json:"max_body_size"`
	ReplyMode   ReplyMode `yaml:"reply_mode" json:"reply_mode"`
	TLS         TLSConfig `yaml:"tls" json:"tls"`

	// TracerProvider starts the spans of calls, sends, deliveries and
	// replies (docs/tracing.md); nil means OpenTelemetry's global provider.
	// Set in code only: no YAML key, no environment variable.
	TracerProvider trace.TracerProvider `yaml:"-" json:"-"`
	// Propagator carries the trace context in AMQP headers; nil means
	// OpenTelemetry's global propagator, which carries nothing until the
	// program sets one (otel.SetTextMapPropagator(propagation.TraceContext{})).
	// Set in code only.
	Propagator propagation.TextMapPropagator `yaml:"-" json:"-"`
	// MetricsAddr (host:port) turns on an agent's HTTP endpoints: /metrics,
	// /healthz and /readyz. Empty: off.
	MetricsAddr string `yaml:"metrics_addr" json:"metrics_addr"`

	// Registerer, set in code only, receives the metrics of agents and
	// senders made from this config (docs/metrics.md). Nil: no metrics,
	// unless MetricsAddr is set, which makes a registry of its own. With
	// MetricsAddr it must also be a prometheus.Gatherer (a
	// *prometheus.Registry is both).
	Registerer prometheus.Registerer `yaml:"-" json:"-"`
}

// Defaults of the keys. The py-servicebus keys have py-servicebus's values.
// Those of the connection, the agent and the sender are the constants of
// the packages that use them.
const (
	DefaultHost              = "127.0.0.1"
	DefaultPort              = 5672
	DefaultSSLPort           = 5671
	DefaultUser              = "guest"
	DefaultPassword          = "guest"
	DefaultVHost             = "/"
	DefaultTokenTimezone     = "local"
	DefaultSocketTimeout     = broker.DefaultDialTimeout
	DefaultHeartbeatInterval = broker.DefaultHeartbeat
	DefaultProbeInterval     = broker.DefaultProbeInterval
	DefaultReconnectMax      = broker.DefaultReconnectMax
	DefaultConcurrency       = router.DefaultConcurrency
	DefaultDrainTimeout      = router.DefaultDrainTimeout
	DefaultCallTimeout       = rpc.DefaultCallTimeout
	DefaultMaxBodySize       = codec.DefaultMaxBodySize

	// maxBodyLimit is the largest message RabbitMQ can be configured to
	// take (max_message_size at most 512 MiB).
	maxBodyLimit = 512 << 20
)

// DefaultConfig is the configuration with every default filled in. Its node
// name is the host name. Its secret token is empty, so it does not validate
// until a secret is set or TokenMode is TokenOff.
func DefaultConfig() Config {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "localhost"
	}
	return Config{
		Hosts:             []string{DefaultHost},
		Port:              DefaultPort,
		SSLPort:           DefaultSSLPort,
		User:              DefaultUser,
		Password:          DefaultPassword,
		VHost:             DefaultVHost,
		NodeName:          node,
		ExchangeName:      topology.DefaultExchange,
		TokenMode:         TokenDaily,
		TokenTimezone:     DefaultTokenTimezone,
		TopologyKind:      topology.Compat,
		SocketTimeout:     DefaultSocketTimeout,
		HeartbeatInterval: DefaultHeartbeatInterval,
		ProbeInterval:     DefaultProbeInterval,
		ReconnectMax:      DefaultReconnectMax,
		Concurrency:       DefaultConcurrency,
		CallTimeout:       DefaultCallTimeout,
		DrainTimeout:      DefaultDrainTimeout,
		MaxBodySize:       DefaultMaxBodySize,
		ReplyMode:         ReplyQueue,
	}
}

// Validate reports every problem of the config at once (joined with
// errors.Join), each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &keyError{key: key, err: fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))})
	}

	brokers, err := c.brokers()
	if err != nil {
		errs = append(errs, err)
	}
	anyTLS := false
	for _, b := range brokers {
		anyTLS = anyTLS || b.tls
	}
	checkPort := func(key string, p int) {
		if p < 1 || p > 65535 {
			bad(key, "%d is not a TCP port (1-65535)", p)
		}
	}
	checkPort("port", c.Port)
	checkPort("ssl_port", c.SSLPort)
	if c.User == "" {
		bad("user", "is empty")
	}
	if c.VHost == "" {
		bad("vhost", "is empty (the default vhost is \"/\")")
	}
	checkName := func(key, name string) {
		switch {
		case name == "":
			bad(key, "is empty")
		case len(name) > 255:
			bad(key, "is %d bytes long; AMQP names have at most 255", len(name))
		case len(name) >= 4 && name[:4] == "amq.":
			bad(key, "%q: names starting with \"amq.\" are reserved by RabbitMQ", name)
		}
	}
	checkName("node_name", c.NodeName)
	checkName("exchange_name", c.ExchangeName)

	switch c.TokenMode {
	case TokenDaily, TokenHMAC:
		if c.SecretToken.blank() {
			bad("secret_token", "is empty or only blanks: set it, or set token_mode: off to run without tokens")
		}
	case TokenOff:
	default:
		bad("token_mode", "%q is not one of daily, hmac, off", string(c.TokenMode))
	}
	if _, err := c.TokenLocation(); err != nil {
		bad("token_timezone", "%q: want \"local\", \"UTC\" or an IANA zone name", c.TokenTimezone)
	}
	switch c.TopologyKind {
	case topology.Compat, topology.Durable:
	default:
		bad("topology", "%q is not one of compat, durable", string(c.TopologyKind))
	}
	switch c.ReplyMode {
	case ReplyQueue, ReplyDirect:
	default:
		bad("reply_mode", "%q is not one of queue, direct", string(c.ReplyMode))
	}

	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "%v must be positive", d)
		}
	}
	positive("socket_timeout", c.SocketTimeout)
	positive("probe_interval", c.ProbeInterval)
	positive("reconnect_max", c.ReconnectMax)
	positive("call_timeout", c.CallTimeout)
	// AMQP negotiates heartbeats in whole seconds (a 16-bit count); less than
	// 1s would turn them off, and amqp091-go drops a fraction without a word.
	switch {
	case c.HeartbeatInterval < time.Second || c.HeartbeatInterval > 65535*time.Second:
		bad("heartbeat_interval", "%v is outside 1s..65535s (AMQP heartbeats are whole seconds)", c.HeartbeatInterval)
	case c.HeartbeatInterval%time.Second != 0:
		bad("heartbeat_interval", "%v is not a whole number of seconds (AMQP heartbeats are whole seconds)", c.HeartbeatInterval)
	}
	if c.DrainTimeout < 0 {
		bad("drain_timeout", "%v is negative", c.DrainTimeout)
	}
	if c.Concurrency < 1 {
		bad("concurrency", "%d must be at least 1", c.Concurrency)
	}
	if c.MaxBodySize < 1 || c.MaxBodySize > maxBodyLimit {
		bad("max_body_size", "%d is outside 1..%d bytes", c.MaxBodySize, maxBodyLimit)
	}

	t := c.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls.cert_file", "tls.cert_file and tls.key_file must be set together")
	}
	for _, f := range []struct{ key, path string }{
		{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			bad(f.key, "%v", err)
		} else if st.IsDir() {
			bad(f.key, "%s is a directory", f.path)
		}
	}
	if c.MetricsAddr != "" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			bad("metrics_addr", "%q: %v", c.MetricsAddr, err)
		} else if _, ok := c.Registerer.(prometheus.Gatherer); c.Registerer != nil && !ok {
			bad("metrics_addr", "the Registerer is no prometheus.Gatherer, so /metrics would have nothing to serve")
		}
	}

	// TLS settings without a TLS broker would silently connect in plain text.
	if !anyTLS && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		bad("tls", "TLS settings are given but no broker uses TLS: set use_ssl: true or give amqps:// hosts")
	}
	return errors.Join(errs...)
}

// checkListenAddr accepts host:port with a port number (0 picks one); the
// host may be empty (every interface).
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number 0-65535", port)
	}
	return nil
}

// Topology is the broker topology of the config (topology, exchange_name).
func (c Config) Topology() topology.Topology {
	return topology.Topology{Kind: c.TopologyKind, Exchange: c.ExchangeName}
}

// Backoff is the reconnect backoff: the default backoff capped at reconnect_max.
func (c Config) Backoff() broker.Backoff {
	b := broker.DefaultBackoff()
	if c.ReconnectMax > 0 {
		b.Max = c.ReconnectMax
	}
	return b
}

// TokenLocation is the time zone of daily tokens (token_timezone).
func (c Config) TokenLocation() (*time.Location, error) {
	switch c.TokenTimezone {
	case "", "local", "Local":
		return time.Local, nil
	case "utc", "UTC":
		return time.UTC, nil
	}
	return time.LoadLocation(c.TokenTimezone)
}
