package failover_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/failover"
)

func TestWrapperConfigValidateNamesEveryProblem(t *testing.T) {
	_, err := failover.NewWrapper(failover.WrapperConfig{
		Publishers:     []message.Publisher{newFake(nil), nil, newFake(nil)},
		Names:          []string{"a", "", "a"},
		AttemptTimeout: -time.Second,
		CloseTimeout:   -time.Second,
		Backoff:        broker.Backoff{Jitter: 2},
	}, nil)
	if err == nil {
		t.Fatal("NewWrapper accepted a bad config")
	}
	for _, want := range []string{
		"Publishers[1]: is nil",
		"Names[1]: is empty",
		`Names[2]: "a" is also Names[0]`,
		"AttemptTimeout: -1s is negative",
		"CloseTimeout: -1s is negative",
		"Backoff:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	for field, cfg := range map[string]failover.WrapperConfig{
		"Publishers": {},
		"Names":      {Publishers: []message.Publisher{newFake(nil)}, Names: []string{"a", "b"}},
	} {
		_, err := failover.NewWrapper(cfg, nil)
		if err == nil {
			t.Errorf("%s: accepted", field)
			continue
		}
		if !strings.HasPrefix(err.Error(), "failover: invalid config: "+field+": ") {
			t.Errorf("%s: error does not name the field after the package's prefix: %v", field, err)
		}
	}
}

// The edges of the valid ranges are valid: zero timeouts and a zero backoff
// mean the defaults, and a jitter of 1 (±100 %) is within [0, 1].
func TestWrapperConfigValidateAcceptsTheEdges(t *testing.T) {
	cfg := failover.WrapperConfig{Publishers: []message.Publisher{newFake(nil)}, Backoff: broker.Backoff{Jitter: 1}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate of zero timeouts and jitter 1: %v", err)
	}
}
