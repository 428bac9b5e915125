package failover

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/publish"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// Defaults of PublisherConfig.
const (
	DefaultConfirmTimeout = publish.DefaultConfirmTimeout
	DefaultPublishTimeout = publish.DefaultPublishTimeout
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// Endpoints are the brokers in order of preference; one broker.Path each.
	Endpoints []broker.Endpoint
	Backoff   broker.Backoff
	// ProbeInterval and ProbeTimeout are passed to every broker.Path.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	// ConfirmTimeout bounds the wait for one publisher confirm; when it
	// passes the path is killed and the publish moves on. 0 means
	// DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
	// PublishTimeout bounds a publish whose context has no deadline.
	// 0 means DefaultPublishTimeout.
	PublishTimeout time.Duration
	// RetryBackoff paces new attempts of a publish that every ready broker
	// refused (nacked); zero means broker.DefaultRetryBackoff.
	RetryBackoff broker.Backoff
	// PreferPrimary true: every publish starts at the first healthy path in
	// config order, so traffic returns to the primary once it is back.
	// false: a publish starts at the path the last publish succeeded on
	// (sticky), and moves on only when that path fails.
	PreferPrimary bool
	// Exchange is where Publish (the Watermill interface) sends: routing key
	// = topic.
	Exchange string
	// OnUp runs on every (re)connect of path index path, after the
	// publishing channel ch was opened in confirm mode and before the path
	// takes publishes: declare topology, start consumers. An error makes the
	// path reconnect.
	OnUp func(path int, conn *amqp.Connection, ch *amqp.Channel) error
	// OnDown runs once the connection OnUp accepted is gone.
	OnDown func(path int, err error)
	// Observer learns every attempt's outcome and every health probe, for
	// metrics (metrics.Metrics.PublisherObserver); nil observes nothing.
	Observer Observer
}

// Observer learns what a Publisher does. Its methods run on the
// publishing goroutine (Probed on a path's) and must not block.
type Observer interface {
	// Attempted learns the outcome of one attempt of a publish on broker
	// (confirmed, nacked, returned, timeout, blocked or unavailable) and
	// how long it took from the publish to its confirm or failure.
	Attempted(broker, outcome string, took time.Duration)
	// Probed learns a health probe of broker: its round trip and error.
	Probed(broker string, took time.Duration, err error)
}

// PublishResult says where a publish landed.
type PublishResult struct {
	Path        int    // index of the path in config order
	Endpoint    string // that broker, without credentials
	DeliveryTag uint64 // the confirm's delivery tag on that path's channel
	Attempts    int    // paths tried, 1 when the first took it
}

// Publisher publishes on the first healthy broker with publisher confirms and
// mandatory, moving a publish to the next broker on a nack, a return, a dead
// connection or a confirm timeout.
//
// # Paths and order
//
// One broker.Path per endpoint, in config order. A path takes publishes when it is
// connected, its set-up (OnUp) succeeded, and the broker does not block
// publishers (connection.blocked: a memory or disk alarm). With
// PreferPrimary a publish starts at the first such path, so traffic goes back
// to the primary once its Path has reconnected in the background; without,
// it starts where the last publish succeeded. Failed brokers are re-probed by
// their Path's own reconnect loop (backoff with jitter).
//
// # One publish
//
// On a path, a publish takes the channel's next delivery tag, records itself
// under that tag and its message id (a fresh one is set when empty), and goes
// out with PublishWithDeferredConfirmWithContext, mandatory. Many publishes
// are in flight on a channel at once; one goroutine per channel resolves them
// from basic.ack/basic.nack and basic.return. RabbitMQ sends the return of an
// unroutable message before its ack, and amqp091-go hands both over in that
// order, so a returned publish fails with ErrNoRoute as soon as its ack is
// in — milliseconds, not a timeout.
//
// Then (the table of docs/reliability.md, "Outcomes"):
//   - ack: done. The ack/nack flag is taken from the publish's own
//     DeferredConfirmation, never from the confirm listener
//     (internal/publish/confirms.go).
//   - return: the next ready path; ErrNoRoute at once when none is left and
//     no attempt may have delivered it.
//   - nack: the next ready path; when every ready path refused, the
//     refusing ones again after RetryBackoff, until the deadline.
//   - connection or channel lost before the confirm: the next ready path, or
//     a wait for one to come back.
//   - the broker blocks the connection (connection.blocked, which RabbitMQ
//     sends only to a connection that publishes): publishes waiting there
//     move on at once (ErrBlocked) and the path is skipped until unblocked.
//     It is not killed: a new connection would be blocked again.
//   - no confirm within ConfirmTimeout: the path is killed (it reconnects)
//     and the publish moves on.
//   - no ready path: wait for a path to change state until the deadline
//     (the ctx's, else PublishTimeout), then ErrUnavailable, with
//     ErrMaybeDelivered when an attempt went out and was not settled, and
//     why each broker is down. A publish never hangs, and neither a socket
//     write nor a connect attempt holds it (pkg/broker).
//   - every path down after a refusal no retry heals (login, vhost, TLS
//     certificate, topology): ErrRefused at once, naming each broker's
//     cause.
//
// Two publishes with the same message id are not in flight on one channel
// at once (the second waits for the first's confirm): a basic.return names
// its message by id alone.
//
// A publish that failed over may reach two brokers (a lost confirm is not a
// lost message): delivery is at-least-once.
//
// # Why not watermill-amqp's publisher
//
// Its ConfirmDelivery waits for each confirm in turn (one publish in flight
// per channel), its Mandatory has no NotifyReturn behind it so returns are
// lost, and without a channel pool it opens a channel per publish.
// Confirm pipelining and returns need the
// amqp091-go channel itself, so the Publisher owns its channels and its Path
// owns reconnects; amqp091-go's own connection recovery is not used. The
// Publisher still is a Watermill message.Publisher (Publish), marshaling with
// codec.Marshaler.
type Publisher struct {
	engine    *publish.Publisher
	exchange  string
	endpoints []broker.Endpoint
}

// NewPublisher starts one broker.Path per endpoint and returns at once;
// paths connect in the background. It sets the defaults of cfg, then
// validates it. A nil logger logs nothing.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	engine, err := publish.New(publish.Config{
		Endpoints:      cfg.Endpoints,
		Backoff:        cfg.Backoff,
		ProbeInterval:  cfg.ProbeInterval,
		ProbeTimeout:   cfg.ProbeTimeout,
		ConfirmTimeout: cfg.ConfirmTimeout,
		PublishTimeout: cfg.PublishTimeout,
		RetryBackoff:   cfg.RetryBackoff,
		PreferPrimary:  cfg.PreferPrimary,
		OnUp:           cfg.OnUp,
		OnDown:         cfg.OnDown,
		Observer:       cfg.Observer,
	}, logger)
	if err != nil {
		return nil, err
	}
	return &Publisher{engine: engine, exchange: cfg.Exchange, endpoints: append([]broker.Endpoint(nil), cfg.Endpoints...)}, nil
}

// PublishAMQP publishes msg to exchange with routing key, mandatory and
// confirmed, on the first ready path, failing over as the Publisher's
// documentation tells. It returns once a broker confirmed the message.
func (p *Publisher) PublishAMQP(ctx context.Context, exchange, key string, msg amqp.Publishing) (PublishResult, error) {
	res, err := p.engine.PublishAMQP(ctx, exchange, key, msg)
	return PublishResult(res), err
}

// Paths is the number of brokers.
func (p *Publisher) Paths() int { return p.engine.Paths() }

// Ready reports whether path i takes publishes now: connected, set up and
// not blocked by a resource alarm.
func (p *Publisher) Ready(i int) bool { return p.engine.Ready(i) }

// PathStatus is the state of one broker of a Publisher.
type PathStatus struct {
	Endpoint string // the broker, without credentials
	Ready    bool   // takes publishes now
	Connects int    // connections set up so far
	Err      error  // why the path is not up (broker.ErrClosed after Close); nil while it is
}

// Status is the state of each broker, in config order.
func (p *Publisher) Status() []PathStatus {
	out := make([]PathStatus, p.engine.Paths())
	for i := range out {
		st := p.engine.Path(i).State()
		out[i] = PathStatus{Endpoint: p.endpoints[i].String(), Ready: p.engine.Ready(i), Connects: st.Connects, Err: st.Err}
	}
	return out
}

// Changed returns a channel closed at the next state change of any path.
func (p *Publisher) Changed() <-chan struct{} { return p.engine.Changed() }

// Close stops every path (running OnDown) and fails publishes in flight with
// ErrClosed. It is idempotent.
func (p *Publisher) Close() error { return p.engine.Close() }
