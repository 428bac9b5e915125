// Command mathagent is py-servicebus's AddService example as a servicebus
// agent: RPC math.add answers the sum of its params, message math.add logs it.
//
//	go run ./examples/mathagent --config agent.yaml
//	SERVICEBUS_HOSTS=127.0.0.1 SERVICEBUS_NODE_NAME=NODE-01 SERVICEBUS_SECRET_TOKEN=secret go run ./examples/mathagent
//
// Params are a JSON list of numbers ([1, 2] -> 3) or an object {"a": x,
// "b": y} (-> x+y). The agent runs until SIGINT or SIGTERM, then finishes the
// calls in flight and exits. With SERVICEBUS_METRICS_ADDR=127.0.0.1:9464 (or
// metrics_addr in the file) it serves Prometheus metrics at /metrics and its
// health at /healthz and /readyz (docs/metrics.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sirupsen/logrus"

	servicebus "github.com/go-servicebus/servicebus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mathagent:", err)
		os.Exit(1)
	}
}

// run loads the config, serves until ctx ends, then drains.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("mathagent", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file; SERVICEBUS_* environment variables override it")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := servicebus.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	l := logrus.New()
	l.SetOutput(stderr)
	logger := servicebus.LogrusLogger(l)

	agent, err := servicebus.NewAgent(cfg, logger)
	if err != nil {
		return err
	}
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, n Numbers) (float64, error) {
		return n.Sum(), nil
	}))
	agent.AddMessageService("math", "add", func(_ context.Context, req *servicebus.Request) error {
		var n Numbers
		if err := req.Decode(&n); err != nil {
			return err
		}
		logger.Info("math.add", watermill.LogFields{"event_id": req.ID, "sum": n.Sum()})
		return nil
	})
	logger.Info("mathagent serving math.add", watermill.LogFields{"config": cfg.String()})
	if cfg.MetricsAddr != "" {
		logger.Info("mathagent serving metrics", watermill.LogFields{"url": "http://" + cfg.MetricsAddr + "/metrics"})
	}
	return agent.Run(ctx)
}

// Numbers are the params of math.add: [x, y, ...] or {"a": x, "b": y}.
type Numbers []float64

func (n *Numbers) UnmarshalJSON(b []byte) error {
	var list []float64
	if err := json.Unmarshal(b, &list); err == nil {
		*n = list
		return nil
	}
	var ab struct {
		A *float64 `json:"a"`
		B *float64 `json:"b"`
	}
	if err := json.Unmarshal(b, &ab); err != nil || ab.A == nil || ab.B == nil {
		return errors.New(`want a list of numbers or {"a": x, "b": y}`)
	}
	*n = Numbers{*ab.A, *ab.B}
	return nil
}

// Sum is the sum of the numbers.
func (n Numbers) Sum() float64 {
	s := 0.0
	for _, x := range n {
		s += x
	}
	return s
}
