package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Every connection after a broker's first is a reconnect; a broker that is
// down shows 0 and keeps its reconnects; two sources of one role on one
// broker add up.
func TestBrokerUpAndReconnectsFromPathStates(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.addSource(RoleSender, func() []pathState {
		return []pathState{{endpoint: "amqp://a/", ready: true, connects: 3}, {endpoint: "amqp://b/", ready: false, connects: 1}}
	})
	m.addSource(RoleSender, func() []pathState {
		return []pathState{{endpoint: "amqp://a/", ready: false, connects: 2}, {endpoint: "amqp://c/", ready: false, connects: 0}}
	})
	want := `
# HELP servicebus_broker_reconnects_total Connections to the broker set up again after the first one.
# TYPE servicebus_broker_reconnects_total counter
servicebus_broker_reconnects_total{broker="amqp://a/",role="sender"} 3
servicebus_broker_reconnects_total{broker="amqp://b/",role="sender"} 0
servicebus_broker_reconnects_total{broker="amqp://c/",role="sender"} 0
# HELP servicebus_broker_up 1 while the broker connection is up and set up (an agent consumes on it, a sender or publisher can publish on it), else 0.
# TYPE servicebus_broker_up gauge
servicebus_broker_up{broker="amqp://a/",role="sender"} 1
servicebus_broker_up{broker="amqp://b/",role="sender"} 0
servicebus_broker_up{broker="amqp://c/",role="sender"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "servicebus_broker_reconnects_total", "servicebus_broker_up"); err != nil {
		t.Error(err)
	}
}
