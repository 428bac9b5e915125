package failover

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// Defaults of WrapperConfig.
const (
	// DefaultAttemptTimeout is as long as the native Publisher waits for a
	// confirm (DefaultConfirmTimeout): long enough for a busy broker, short
	// enough that a hung one does not hold a message for a heartbeat or two.
	DefaultAttemptTimeout = DefaultConfirmTimeout
	// DefaultWrapperCloseTimeout bounds Close, as drain_timeout bounds an
	// agent's.
	DefaultWrapperCloseTimeout = 30 * time.Second
)

// WrapperConfig configures a Wrapper.
type WrapperConfig struct {
	// Publishers are tried in this order for every message: typically one
	// watermill-amqp publisher per broker, the preferred broker first.
	Publishers []message.Publisher
	// Names name the publishers in errors and logs, in the order of
	// Publishers (say, the broker of each). Empty: their indexes ("0", "1",
	// ...).
	Names []string
	// Backoff is how long a publisher that failed is skipped before it is
	// tried again: Backoff.Delay(n) after its n+1-th failure in a row.
	// Zero fields take broker.DefaultBackoff's.
	Backoff broker.Backoff
	// AttemptTimeout bounds one publisher's Publish of one message. When it
	// passes the publisher counts as failed (hung) and the message moves on
	// to the next one. 0 means DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// ClosePublishers makes the Wrapper the owner of Publishers: its Close
	// closes them. false: the caller owns them and closes them after the
	// Wrapper (the Wrapper never closes what it borrowed).
	ClosePublishers bool
	// CloseTimeout bounds Close's wait for publishes in flight (and, with
	// ClosePublishers, for hung publishes to return once their publisher is
	// closed). 0 means DefaultWrapperCloseTimeout.
	CloseTimeout time.Duration
}

func (c *WrapperConfig) setDefaults() {
	if len(c.Names) == 0 {
		c.Names = make([]string, len(c.Publishers))
		for i := range c.Names {
			c.Names[i] = strconv.Itoa(i)
		}
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultWrapperCloseTimeout
	}
}

// Validate reports every problem of the config at once, joined with
// errors.Join, each naming its field; NewWrapper prefixes them once.
func (c WrapperConfig) Validate() error {
	var errs []error
	if len(c.Publishers) == 0 {
		errs = append(errs, errors.New("Publishers: at least one publisher is required"))
	}
	for i, p := range c.Publishers {
		if p == nil {
			errs = append(errs, fmt.Errorf("Publishers[%d]: is nil", i))
		}
	}
	if len(c.Names) != 0 && len(c.Names) != len(c.Publishers) {
		errs = append(errs, fmt.Errorf("Names: %d names for %d publishers (leave it empty to name them by index)", len(c.Names), len(c.Publishers)))
	}
	seen := make(map[string]int, len(c.Names))
	for i, n := range c.Names {
		if n == "" {
			errs = append(errs, fmt.Errorf("Names[%d]: is empty", i))
			continue
		}
		if j, dup := seen[n]; dup {
			errs = append(errs, fmt.Errorf("Names[%d]: %q is also Names[%d]", i, n, j))
		}
		seen[n] = i
	}
	if c.AttemptTimeout < 0 {
		errs = append(errs, fmt.Errorf("AttemptTimeout: %s is negative", c.AttemptTimeout))
	}
	if c.CloseTimeout < 0 {
		errs = append(errs, fmt.Errorf("CloseTimeout: %s is negative", c.CloseTimeout))
	}
	if b := c.Backoff; b.Initial < 0 || b.Max < 0 || b.Multiplier < 0 || b.Jitter < 0 || b.Jitter > 1 {
		errs = append(errs, fmt.Errorf("Backoff: %+v: durations and multiplier must not be negative, jitter must be within [0, 1]", b))
	}
	return errors.Join(errs...)
}
