package broker

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// probe does one AMQP round trip (a passive declare of a built-in exchange)
// on its own channel and fails if no answer comes within ProbeTimeout.
func (p *Path) probe(conn *amqp.Connection, ch *amqp.Channel) (*amqp.Channel, error) {
	result := make(chan error, 1)
	go func() {
		var err error
		if ch == nil || ch.IsClosed() {
			ch, err = conn.Channel()
			if err != nil {
				result <- err
				return
			}
		}
		result <- ch.ExchangeDeclarePassive("amq.direct", "direct", true, false, false, false, nil)
	}()
	timer := time.NewTimer(p.cfg.ProbeTimeout)
	defer timer.Stop()
	select {
	case err := <-result:
		if err != nil {
			return nil, fmt.Errorf("broker: health probe of %s failed: %w", p.cfg.Endpoint.String(), err)
		}
		return ch, nil
	case <-timer.C:
		// The probe goroutine ends when the connection is closed below.
		return nil, fmt.Errorf("broker: health probe of %s got no answer within %s", p.cfg.Endpoint.String(), p.cfg.ProbeTimeout)
	case <-p.closing:
		return nil, ErrClosed
	}
}
