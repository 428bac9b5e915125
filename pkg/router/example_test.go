package router_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
)

// An agent for node NODE-01 with py-servicebus's math.add, served until
// SIGINT or SIGTERM, then drained.
func Example() {
	agent, err := router.NewAgent(router.Config{
		Endpoints: []broker.Endpoint{
			{URL: "amqp://guest:guest@127.0.0.1:5672/"},
			{URL: "amqp://guest:guest@127.0.0.1:5673/"},
		},
		NodeName: "NODE-01",
		Tokens:   token.NewDailyTokens("secret", nil),
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	agent.AddRPCService("math", "add", router.RPC(func(ctx context.Context, xs []float64) (float64, error) {
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		return sum, nil
	}))
	agent.AddMessageService("util", "print", router.Message(func(ctx context.Context, s string) error {
		log.Println(s)
		return nil
	}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := agent.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A service chooses the error code its caller sees.
func ExampleNewError() {
	_ = func(ctx context.Context, req *router.Request) (any, error) {
		var user string
		if err := req.Decode(&user); err != nil {
			return nil, err // CodeBadRequest
		}
		if user == "" {
			return nil, router.NewError(codec.CodeBadRequest, "user is empty")
		}
		return "hello " + user, nil
	}
}
