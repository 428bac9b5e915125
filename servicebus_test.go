package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// brokerConfig is a config for the test broker with a node name of its own.
func brokerConfig(t *testing.T) servicebus.Config {
	t.Helper()
	url := brokertest.RequireBroker(t)
	cfg := servicebus.DefaultConfig()
	if err := cfg.ApplyEnv(func(key string) (string, bool) {
		if key == "SERVICEBUS_HOSTS" {
			return hostOf(t, url), true
		}
		return "", false
	}); err != nil {
		t.Fatal(err)
	}
	cfg.NodeName = testkit.UniqueName("root-test")
	testkit.DeleteQueues(t, url, cfg.NodeName)
	cfg.SecretToken = "root test secret"
	cfg.CallTimeout = 10 * time.Second
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

func hostOf(t *testing.T, url string) string {
	t.Helper()
	var host string
	if _, err := fmt.Sscanf(url, "amqp://guest:guest@%s", &host); err != nil {
		t.Fatalf("test broker url %q is not amqp://guest:guest@HOST:PORT/: %v", url, err)
	}
	return host[:len(host)-1]
}

func TestAgentAndSenderFromOneConfigTalk(t *testing.T) {
	cfg := brokerConfig(t)
	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, p []int) (int, error) {
		sum := 0
		for _, v := range p {
			sum += v
		}
		return sum, nil
	}))
	// A service that calls another through the sender the agent gives it.
	agent.AddRPCService("math", "double_sum", func(ctx context.Context, req *servicebus.Request) (any, error) {
		var p []int
		if err := req.Decode(&p); err != nil {
			return nil, err
		}
		reply, err := req.Sender().Call(ctx, cfg.NodeName+".math.add", p)
		if err != nil {
			return nil, err
		}
		var sum int
		if err := reply.Decode(&sum); err != nil {
			return nil, err
		}
		return 2 * sum, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := agent.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	testkit.Eventually(t, 10*time.Second, "agent consuming", func() bool { return agent.Consuming() == 1 })

	sender, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()

	for _, tc := range []struct {
		target string
		want   int
	}{{".math.add", 3}, {".math.double_sum", 6}} {
		reply, err := sender.Call(ctx, cfg.NodeName+tc.target, []int{1, 2})
		if err != nil {
			t.Fatalf("Call %s: %v", tc.target, err)
		}
		var got int
		if err := reply.Decode(&got); err != nil || got != tc.want {
			t.Fatalf("Call %s = %q (%v), want %d", tc.target, reply.Raw, err, tc.want)
		}
	}

	_, err = sender.Call(ctx, cfg.NodeName+".math.mul", []int{1, 2})
	var remote *servicebus.RemoteError
	if !errors.As(err, &remote) {
		t.Fatalf("Call of an unknown service: err = %v, want a *RemoteError", err)
	}
}
