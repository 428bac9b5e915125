package broker_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/internal/tlstest"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// margin is what the issue allows past a deadline.
const margin = 100 * time.Millisecond

// stuckBrokers are brokers a connect attempt waits on: each accepts TCP and
// then says nothing in time. DialTimeout (socket_timeout) is far longer
// than any deadline of the tests.
func stuckBrokers(t *testing.T) map[string]broker.Endpoint {
	silent := brokertest.NewSilentBroker(t)
	slow := brokertest.NewSlowRefusal(t, 30*time.Second, 403, "ACCESS_REFUSED - Login was refused")
	return map[string]broker.Endpoint{
		"accepts TCP and never speaks": {URL: silent.URL("amqp", "guest", "guest"), DialTimeout: time.Minute},
		"stalled TLS handshake":        {URL: silent.URL("amqps", "guest", "guest"), DialTimeout: time.Minute},
		"slow refusal":                 {URL: slow.URL("amqp", "guest", "guest"), DialTimeout: time.Minute},
	}
}

func TestDialEndsByTheContextsDeadlineWhateverTheBrokerDoes(t *testing.T) {
	for name, ep := range stuckBrokers(t) {
		t.Run(name, func(t *testing.T) {
			const deadline = 300 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			conn, err := ep.DialContext(ctx)
			took := time.Since(start)
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			if took > deadline+margin {
				t.Errorf("dial returned after %s, deadline %s", took, deadline)
			}
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, broker.ErrRefused) {
				t.Errorf("error %v: want the context's deadline, not a refusal", err)
			}
		})
	}
}

// Close does not wait for a connect attempt: the dial or its handshakes are
// cut short, whatever socket_timeout says.
func TestPathCloseCutsShortAConnectAttempt(t *testing.T) {
	for name, ep := range stuckBrokers(t) {
		t.Run(name, func(t *testing.T) {
			p := broker.NewPath(broker.PathConfig{Endpoint: ep}, nil)
			time.Sleep(200 * time.Millisecond) // the dial is under way
			start := time.Now()
			_ = p.Close()
			if took := time.Since(start); took > margin {
				t.Errorf("Close took %s while a connect attempt was under way", took)
			}
			if st := p.State(); st.Healthy || !errors.Is(st.Err, broker.ErrClosed) {
				t.Errorf("after Close: %+v", st)
			}
		})
	}
}

// Close does not wait for a set-up (OnUp) that a silent broker holds: the
// connection is closed under it, and OnDown undoes what it set up.
func TestPathCloseCutsShortASetUp(t *testing.T) {
	url := brokertest.RequireBroker(t)
	inSetUp := make(chan struct{})
	var downs sync.WaitGroup
	downs.Add(1)
	p := broker.NewPath(broker.PathConfig{
		Endpoint:     broker.Endpoint{URL: url},
		SetupTimeout: time.Minute,
		OnUp: func(conn *amqp.Connection) error {
			close(inSetUp)
			<-conn.NotifyClose(make(chan *amqp.Error, 1)) // as a call on a silent link would
			return nil
		},
		OnDown: func(error) { downs.Done() },
	}, nil)
	<-inSetUp
	start := time.Now()
	_ = p.Close()
	if took := time.Since(start); took > margin {
		t.Errorf("Close took %s during a set-up", took)
	}
	downs.Wait() // once, or the WaitGroup panics
}

// A wrong password, an unknown vhost, a certificate of an unknown authority:
// refusals that no retry heals, named at the first attempt, within a second.
func TestDialNamesRefusalsThatCannotHeal(t *testing.T) {
	url := brokertest.RequireBroker(t)
	certs := tlstest.Generate(t)
	tlsBroker := brokertest.NewTLSBroker(t, certs.ServerCertFile, certs.ServerKeyFile)
	for _, tc := range []struct {
		name, url, reason string
		code              int
		tls               bool
	}{
		{"wrong password", strings.Replace(url, "guest:guest", "guest:not-the-password", 1), "access refused", 403, false},
		{"unknown user", strings.Replace(url, "guest:guest", "nobody-"+testkit.UniqueName("u")+":x", 1), "access refused", 403, false},
		{"vhost not found", strings.TrimSuffix(url, "/") + "/" + testkit.UniqueName("no-such-vhost"), "vhost not found", 530, false},
		{"certificate of an unknown authority", tlsBroker.URL("amqps", "guest", "guest"), "TLS certificate verification failed", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := broker.Endpoint{URL: tc.url, DialTimeout: 10 * time.Second}
			if tc.tls {
				ep.TLS = tlstest.ClientConfig(t, certs.OtherCACertFile, "", "", "")
			}
			start := time.Now()
			conn, err := ep.Dial()
			took := time.Since(start)
			if err == nil {
				conn.Close()
				t.Fatal("connected")
			}
			var r *broker.RefusedError
			if !errors.As(err, &r) || !errors.Is(err, broker.ErrRefused) {
				t.Fatalf("error %v is no refusal", err)
			}
			if r.Reason != tc.reason || r.Code != tc.code || r.Broker != ep.String() {
				t.Errorf("refusal %+v, want reason %q code %d from %s", r, tc.reason, tc.code, ep)
			}
			if took > time.Second {
				t.Errorf("refused after %s; want within 1 s", took)
			}
			if strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("the password is in the error: %v", err)
			}
			var ua x509.UnknownAuthorityError
			if tc.tls && !errors.As(err, &ua) {
				t.Errorf("error %v does not carry the x509 error", err)
			}
		})
	}
}

// Without authentication_failure_close among the client capabilities,
// RabbitMQ closes the socket of a refused login without a word, 3 s later.
func TestLoginAsksTheBrokerToSayWhyItRefuses(t *testing.T) {
	fake := brokertest.NewSlowRefusal(t, 0, 403, "ACCESS_REFUSED - Login was refused")
	conn, err := broker.Endpoint{URL: fake.URL("amqp", "guest", "guest")}.Dial()
	if err == nil {
		conn.Close()
		t.Fatal("connected")
	}
	if fake.Logins() != 1 || !fake.AskedFailureClose() {
		t.Fatalf("%d logins, capability authentication_failure_close asked: %v", fake.Logins(), fake.AskedFailureClose())
	}
	if !errors.Is(err, broker.ErrRefused) {
		t.Fatalf("error %v is no refusal", err)
	}
}

// errorLog counts the error-level records of a Path.
type errorLog struct {
	watermill.NopLogger
	mu     sync.Mutex
	errors []string
}

func (l *errorLog) Error(msg string, err error, _ watermill.LogFields) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errors = append(l.errors, msg+": "+err.Error())
}

func (l *errorLog) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func (l *errorLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errors...)
}

// A path refused at every attempt keeps trying in the background and logs
// the refusal at error level once, not at every attempt; its state says
// it was refused.
func TestPathLogsARefusalOncePerCauseAndKeepsTrying(t *testing.T) {
	url := brokertest.RequireBroker(t)
	log := &errorLog{}
	p := broker.NewPath(broker.PathConfig{
		Endpoint: broker.Endpoint{URL: strings.Replace(url, "guest:guest", "guest:not-the-password", 1)},
		Backoff:  broker.Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond},
	}, log)
	defer p.Close()
	testkit.Eventually(t, 10*time.Second, "5 refused attempts", func() bool { return p.State().Failures >= 5 })
	st := p.State()
	if st.Refused == nil || st.Refused.Code != 403 || !errors.Is(st.Err, broker.ErrRefused) || st.Connects != 0 {
		t.Fatalf("state %+v: want a 403 refusal", st)
	}
	if lines := log.lines(); len(lines) != 1 || !strings.Contains(lines[0], "access refused") {
		t.Fatalf("%d attempts logged %d error lines, want 1: %q", st.Failures, len(lines), lines)
	}
}

// A set-up the broker refuses with 406 PRECONDITION_FAILED (the exchange
// exists with other arguments) is a refusal too; the set-up error is
// logged once.
func TestPathTakesA406AtSetUpForARefusal(t *testing.T) {
	url := brokertest.RequireBroker(t)
	exchange := testkit.TransientExchange(t, url, "sbtest-mismatch")
	log := &errorLog{}
	p := broker.NewPath(broker.PathConfig{
		Endpoint: broker.Endpoint{URL: url},
		Backoff:  broker.Backoff{Initial: 5 * time.Millisecond, Max: 10 * time.Millisecond},
		OnUp: func(conn *amqp.Connection) error {
			ch, err := conn.Channel()
			if err != nil {
				return err
			}
			return ch.ExchangeDeclare(exchange, "direct", true, false, false, false, nil)
		},
	}, log)
	defer p.Close()
	testkit.Eventually(t, 10*time.Second, "3 refused set-ups", func() bool { return p.State().Failures >= 3 })
	st := p.State()
	if st.Refused == nil || st.Refused.Code != 406 || st.Refused.Reason != "the topology does not match the broker's" {
		t.Fatalf("state %+v: want a 406 refusal", st)
	}
	if lines := log.lines(); len(lines) != 1 || !strings.Contains(lines[0], "PRECONDITION_FAILED") {
		t.Fatalf("%d set-ups logged %d error lines, want 1: %q", st.Failures, len(lines), lines)
	}
}
