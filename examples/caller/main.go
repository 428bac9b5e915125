// Command caller is py-servicebus's sender example as a servicebus sender:
// it calls NODE-01.math.add with [1, 2], prints the result, sends one
// message to the same service, and pings the node over every broker.
//
//	go run ./examples/caller --config sender.yaml
//	SERVICEBUS_HOSTS=127.0.0.1 SERVICEBUS_SECRET_TOKEN=secret go run ./examples/caller --node NODE-01
//
// Run it next to ./examples/mathagent with the same hosts, exchange and
// secret. It exits non-zero when any step fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	servicebus "github.com/go-servicebus/servicebus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("caller", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "YAML config file; SERVICEBUS_* environment variables override it")
	node := flags.String("node", "NODE-01", "node to call")
	timeout := flags.Duration("timeout", 10*time.Second, "deadline of each step")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg, err := servicebus.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	l := logrus.New()
	l.SetOutput(stderr)
	l.SetLevel(logrus.WarnLevel)
	sender, err := servicebus.NewSender(cfg, servicebus.LogrusLogger(l))
	if err != nil {
		return err
	}
	defer sender.Close()

	// RPC: wait for the answer.
	callCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	reply, err := sender.Call(callCtx, *node+".math.add", []int{1, 2})
	var remote *servicebus.RemoteError
	switch {
	case errors.As(err, &remote):
		return fmt.Errorf("math.add failed on %s: %s (%s)", *node, remote.Message, remote.Code)
	case errors.Is(err, servicebus.ErrNoRoute):
		return fmt.Errorf("no agent serves node %s on any broker: %w", *node, err)
	case err != nil:
		return err
	}
	// A Go agent answers JSON; a py-servicebus agent answers Python's str().
	fmt.Fprintf(stdout, "%s.math.add([1, 2]) = %s\n", *node, reply.Raw)

	// Message: returns once a broker confirmed it (persistent).
	sendCtx, cancelSend := context.WithTimeout(ctx, *timeout)
	defer cancelSend()
	if err := sender.Send(sendCtx, *node+".math.add", []int{1, 2}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	fmt.Fprintf(stdout, "sent one message to %s.math.add\n", *node)

	// Ping over every broker.
	pingCtx, cancelPing := context.WithTimeout(ctx, *timeout)
	defer cancelPing()
	res, err := sender.PingAll(pingCtx, *node)
	for _, p := range res.Paths {
		if p.Err != nil {
			fmt.Fprintf(stdout, "ping %s via %s: %v\n", *node, p.Endpoint, p.Err)
		} else {
			fmt.Fprintf(stdout, "ping %s via %s: %s\n", *node, p.Endpoint, p.RTT.Round(time.Microsecond))
		}
	}
	fmt.Fprintf(stdout, "%d of %d brokers answered\n", res.Answered, res.Brokers)
	return err
}
