package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// op is one thing a caller does with a deadline.
type op struct {
	name string
	do   func(ctx context.Context, s *rpc.Sender) error
}

var ops = []op{
	{"Call", func(ctx context.Context, s *rpc.Sender) error {
		_, err := s.Call(ctx, "NODE-01.math.add", []int{1, 2})
		return err
	}},
	{"Send", func(ctx context.Context, s *rpc.Sender) error { return s.Send(ctx, "NODE-01.math.add", []int{1, 2}) }},
	{"Ping", func(ctx context.Context, s *rpc.Sender) error {
		_, err := s.Ping(ctx, "NODE-01")
		return err
	}},
}

func deadlineSender(t *testing.T, top topology.Topology, eps ...broker.Endpoint) *rpc.Sender {
	t.Helper()
	s, err := rpc.NewSender(rpc.Config{Endpoints: eps, Topology: top, Signer: token.NoTokens}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A Call, Send or Ping returns by its deadline + 100 ms whatever the
// connect attempt is doing, and so does closing the sender right after
// (as the CLI does): socket_timeout (a minute here) does not hold either.
func TestDeadlineKeptWhateverTheConnectAttemptIsDoing(t *testing.T) {
	const (
		deadline = 500 * time.Millisecond
		margin   = 100 * time.Millisecond
	)
	silent := brokertest.NewSilentBroker(t)
	slow := brokertest.NewSlowRefusal(t, time.Minute, 403, "ACCESS_REFUSED - Login was refused")
	for _, b := range []struct {
		name string
		ep   broker.Endpoint
	}{
		{"broker that accepts TCP and never speaks", broker.Endpoint{URL: silent.URL("amqp", "guest", "guest"), DialTimeout: time.Minute}},
		{"stalled TLS handshake", broker.Endpoint{URL: silent.URL("amqps", "guest", "guest"), DialTimeout: time.Minute}},
		{"slow refusal", broker.Endpoint{URL: slow.URL("amqp", "guest", "guest"), DialTimeout: time.Minute}},
	} {
		for _, o := range ops {
			t.Run(b.name+"/"+o.name, func(t *testing.T) {
				s, err := rpc.NewSender(rpc.Config{Endpoints: []broker.Endpoint{b.ep}, Signer: token.NoTokens}, nil)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err = o.do(ctx, s)
				returned := time.Since(start)
				_ = s.Close()
				closed := time.Since(start)
				if !rpc.IsRetryable(err) && !errors.Is(err, rpc.ErrTimeout) {
					t.Errorf("err = %v, want a timeout or ErrUnavailable", err)
				}
				if returned > deadline+margin || closed > deadline+margin {
					t.Errorf("returned after %s, closed after %s; deadline %s", returned, closed, deadline)
				}
				t.Logf("returned after %s, closed after %s: %v", returned.Round(time.Millisecond), closed.Round(time.Millisecond), err)
			})
		}
	}
}

// Refusals that cannot heal come back within a second, with their cause,
// matching broker.ErrRefused, from Call, Send and Ping alike.
func TestRefusalsThatCannotHealAreReportedAtOnce(t *testing.T) {
	url := brokertest.RequireBroker(t)
	certs := tlstest.Generate(t)
	tlsBroker := brokertest.NewTLSBroker(t, certs.ServerCertFile, certs.ServerKeyFile)
	exchange := testkit.TransientExchange(t, url, "sbtest-compat-exchange")

	for _, tc := range []struct {
		name  string
		top   topology.Topology
		ep    broker.Endpoint
		cause string
	}{
		{"wrong password", topology.Topology{}, broker.Endpoint{URL: strings.Replace(url, "guest:guest", "guest:not-the-password", 1)}, "access refused"},
		{"vhost not found", topology.Topology{}, broker.Endpoint{URL: strings.TrimSuffix(url, "/") + "/" + testkit.UniqueName("no-vhost")}, "vhost not found"},
		{"TLS certificate verification", topology.Topology{}, broker.Endpoint{URL: tlsBroker.URL("amqps", "guest", "guest"), TLS: tlstest.ClientConfig(t, certs.OtherCACertFile, "", "", "")}, "certificate signed by unknown authority"},
		{"topology mismatch", topology.Topology{Kind: topology.Durable, Exchange: exchange}, broker.Endpoint{URL: url}, "PRECONDITION_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := deadlineSender(t, tc.top, tc.ep)
			for _, o := range ops {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				start := time.Now()
				err := o.do(ctx, s)
				took := time.Since(start)
				cancel()
				if !errors.Is(err, broker.ErrRefused) || rpc.IsRetryable(err) || !strings.Contains(err.Error(), tc.cause) {
					t.Errorf("%s: err = %v, want ErrRefused saying %q", o.name, err, tc.cause)
				}
				if took > time.Second {
					t.Errorf("%s: refusal reported after %s; want within 1 s", o.name, took)
				}
				t.Logf("%s: %s: %v", o.name, took.Round(time.Millisecond), err)
			}
		})
	}
}
