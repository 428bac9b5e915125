// Command watermill shows servicebus as a Watermill user meets it:
//
//   - the agent's services are handlers of its message.Router
//     (agent.Router()), named rpc:math.add and message:math.add, and one
//     middleware wraps math.add alone;
//   - a handler of our own runs on the same router with another subscriber
//     (a gochannel of audit events that the middleware publishes);
//   - Watermill's Prometheus metrics are on, labelled by service;
//   - sends reach the agent through a failover.Wrapper over one
//     watermill-amqp publisher per broker, and a call goes through the
//     Sender.
//
// It sends --sends messages and makes one call, prints what the audit
// handler saw and the metrics, and exits; with --listen it then serves the
// metrics at /metrics until SIGINT or SIGTERM.
//
//	SERVICEBUS_HOSTS=127.0.0.1 SERVICEBUS_NODE_NAME=NODE-01 SERVICEBUS_SECRET_TOKEN=secret go run ./examples/watermill
//	go run ./examples/watermill --config agent.yaml --listen 127.0.0.1:9090
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/failover"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	flags := flag.NewFlagSet("watermill", flag.ContinueOnError)
	configPath := flags.String("config", "", "YAML config file; SERVICEBUS_* environment variables override it")
	var o options
	flags.IntVar(&o.sends, "sends", 3, "messages to send to math.add through the Wrapper")
	flags.StringVar(&o.listen, "listen", "", "serve the metrics at http://ADDR/metrics until interrupted")
	if err := flags.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	cfg, err := servicebus.LoadConfig(*configPath)
	if err == nil {
		err = run(ctx, cfg, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "watermill:", err)
		os.Exit(1)
	}
}

type options struct {
	sends  int
	listen string
}

// run serves math.add on cfg's node, sends and calls it, and prints what
// happened.
func run(ctx context.Context, cfg servicebus.Config, o options, out io.Writer) error {
	logger := watermill.NopLogger{}
	agent, err := servicebus.NewAgent(cfg, nil)
	if err != nil {
		return err
	}
	// Metrics first: router-level middleware added before the services
	// runs outermost on their handlers.
	registry := prometheus.NewRegistry()
	metrics.NewPrometheusMetricsBuilder(registry, "servicebus", "").AddPrometheusRouterMetrics(agent.Router())

	// A handler of our own, with another subscriber: servicebus leaves its
	// messages alone.
	events := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64}, logger)
	defer events.Close()
	audited := make(chan string, 64)
	agent.Router().AddConsumerHandler("audit", "audit", events, func(msg *message.Message) error {
		audited <- string(msg.Payload)
		return nil
	})
	// A middleware of math.add's own: an audit event per request.
	audit := func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			replies, err := h(msg)
			event := fmt.Sprintf("%s ok=%t", message.HandlerNameFromCtx(msg.Context()), err == nil)
			_ = events.Publish("audit", message.NewMessage(watermill.NewUUID(), []byte(event)))
			return replies, err
		}
	}
	sums := make(chan float64, o.sends)
	agent.AddRPCService("math", "add", servicebus.RPC(func(_ context.Context, xs []float64) (float64, error) {
		return sum(xs), nil
	}), audit)
	agent.AddMessageService("math", "add", servicebus.Message(func(_ context.Context, xs []float64) error {
		sums <- sum(xs)
		return nil
	}), audit)

	if err := agent.Start(ctx); err != nil {
		return errors.Join(err, agent.Close())
	}
	defer agent.Close()
	for agent.Consuming() < len(cfg.Hosts) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}

	publisher, err := newWrapper(cfg, logger)
	if err != nil {
		return err
	}
	defer publisher.Close()
	envelopes, err := servicebus.NewEnvelopes(cfg)
	if err != nil {
		return err
	}
	work, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i := range o.sends {
		node, msg, err := envelopes.SendMessage(work, cfg.NodeName+".math.add", []int{i, 1})
		if err != nil {
			return err
		}
		if err := publisher.Publish(node, msg); err != nil {
			return err
		}
	}
	sender, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		return err
	}
	defer sender.Close()
	reply, err := sender.Call(work, cfg.NodeName+".math.add", []int{1, 2})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "call %s.math.add([1, 2]) = %s\n", cfg.NodeName, reply.Raw)

	total := 0.0
	for range o.sends {
		select {
		case s := <-sums:
			total += s
		case <-work.Done():
			return fmt.Errorf("sends not all served: %w", work.Err())
		}
	}
	fmt.Fprintf(out, "sent %d messages through the Wrapper; their sums add up to %g\n", o.sends, total)
	for range o.sends + 1 {
		select {
		case e := <-audited:
			fmt.Fprintln(out, "audit:", e)
		case <-work.Done():
			return fmt.Errorf("audit events missing: %w", work.Err())
		}
	}
	if o.listen != "" {
		if err := serveMetrics(ctx, o.listen, registry, out); err != nil {
			return err
		}
	}
	// Close drains: every handler has returned, so every run is counted.
	if err := agent.Close(); err != nil {
		return err
	}
	return printMetrics(out, registry)
}

// newWrapper is a failover.Wrapper over one watermill-amqp publisher per
// broker of cfg, each with confirms, a channel pool and codec.Marshaler,
// publishing to the exchange as agents declare it.
func newWrapper(cfg servicebus.Config, logger watermill.LoggerAdapter) (*failover.Wrapper, error) {
	endpoints, err := cfg.Endpoints(nil)
	if err != nil {
		return nil, err
	}
	var pubs []message.Publisher
	var names []string
	for _, ep := range endpoints {
		pub, err := wamqp.NewPublisher(wamqp.Config{
			Connection: wamqp.ConnectionConfig{AmqpURI: ep.URL, TLSConfig: ep.TLS},
			Marshaler:  codec.Marshaler{}, // AMQP properties as metadata, headers of any type
			Exchange: wamqp.ExchangeConfig{
				GenerateName: wamqp.GenerateExchangeNameConstant(cfg.ExchangeName),
				Type:         "direct",
				Durable:      cfg.TopologyKind == topology.Durable, // compat: not durable, as py-servicebus
			},
			Publish: wamqp.PublishConfig{
				GenerateRoutingKey: func(node string) string { return node },
				ConfirmDelivery:    true,
				ChannelPoolSize:    8, // 0 opens a channel for every publish
			},
			TopologyBuilder: &wamqp.DefaultTopologyBuilder{},
		}, logger) // a nil logger panics with a channel pool
		if err != nil {
			for _, p := range pubs {
				_ = p.Close()
			}
			return nil, err
		}
		pubs = append(pubs, pub)
		names = append(names, ep.String())
	}
	return failover.NewWrapper(failover.WrapperConfig{Publishers: pubs, Names: names, ClosePublishers: true}, logger)
}

// printMetrics prints how often each handler ran, from Watermill's
// handler_execution_time_seconds.
func printMetrics(out io.Writer, registry *prometheus.Registry) error {
	families, err := registry.Gather()
	if err != nil {
		return err
	}
	var lines []string
	for _, f := range families {
		if f.GetName() != "servicebus_handler_execution_time_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			lines = append(lines, fmt.Sprintf("%s{handler_name=%q,success=%q} count %d",
				f.GetName(), labels["handler_name"], labels["success"], m.GetHistogram().GetSampleCount()))
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return nil
}

// serveMetrics serves /metrics until ctx ends.
func serveMetrics(ctx context.Context, addr string, registry *prometheus.Registry, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(out, "serving metrics at http://%s/metrics\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
