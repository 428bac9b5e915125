package publish

import (
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/pkg/broker"
)

// Defaults of Config.
const (
	DefaultConfirmTimeout = 5 * time.Second
	DefaultPublishTimeout = 30 * time.Second
)

// Config configures a Publisher.
type Config struct {
	// Endpoints are the brokers in order of preference; one broker.Path each.
	Endpoints []broker.Endpoint
	Backoff   broker.Backoff
	// ProbeInterval and ProbeTimeout are passed to every Path.
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
	// OnUp runs on every (re)connect of path index path, after the
	// publishing channel ch was opened in confirm mode and before the path
	// takes publishes: declare topology, start reply consumers (direct
	// reply-to must consume on ch). An error makes the path reconnect.
	OnUp func(path int, conn *amqp.Connection, ch *amqp.Channel) error
	// OnDown runs once the connection OnUp accepted is gone.
	OnDown func(path int, err error)
	// Observer learns every attempt's outcome and every health probe
	// (metrics); nil observes nothing.
	Observer Observer
}

func (c *Config) setDefaults() {
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.RetryBackoff == (broker.Backoff{}) {
		c.RetryBackoff = broker.DefaultRetryBackoff()
	}
}

// Validate reports every problem of the config at once, joined with
// errors.Join, each naming its field; New prefixes them once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("Endpoints: at least one broker is required"))
	}
	for i, ep := range c.Endpoints {
		if _, err := amqp.ParseURI(ep.URL); err != nil {
			errs = append(errs, fmt.Errorf("Endpoints[%d] (%s): %w", i, ep.String(), err))
		}
	}
	if c.ConfirmTimeout < 0 {
		errs = append(errs, errors.New("ConfirmTimeout: must not be negative"))
	}
	return errors.Join(errs...)
}
