package failover

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/pkg/broker"
)

// A publisher in backoff that takes a message is healthy again at once: its
// backoff ends, so it is tried in its turn rather than after the others. Only
// a success of an attempt started after the latest failure counts; an older
// attempt belongs to the same incident.
func TestSuccessAfterAFailureEndsThePublishersBackoff(t *testing.T) {
	backoff := broker.Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 2}
	broken := errors.New("broker gone")
	p := &wrappedPublisher{name: "p", logger: watermill.NopLogger{}}

	beforeFailure := time.Now()
	time.Sleep(time.Millisecond) // failedAt must come strictly after beforeFailure
	p.record(time.Now(), broken, backoff)
	if err, inBackoff := p.skip(time.Now()); err == nil || !inBackoff {
		t.Fatalf("after a failure: skip = %v, %v; want its backoff", err, inBackoff)
	}

	p.record(beforeFailure, nil, backoff)
	if err, _ := p.skip(time.Now()); err == nil {
		t.Fatal("a success of an attempt started before the failure ended the backoff")
	}

	time.Sleep(time.Millisecond) // the next attempt starts after failedAt
	p.record(time.Now(), nil, backoff)
	if err, inBackoff := p.skip(time.Now()); err != nil {
		t.Fatalf("after a fresh success: skip = %v (backoff %v); want the publisher tried again", err, inBackoff)
	}
	if p.failures != 0 || p.lastErr != nil {
		t.Fatalf("after a fresh success: %d failures, last error %v; want 0 and nil", p.failures, p.lastErr)
	}

	// A new failure starts the backoff from its first step again.
	p.record(time.Now(), broken, backoff)
	if p.failures != 1 {
		t.Fatalf("a failure after the recovery counts %d failures in a row, want 1", p.failures)
	}
}
