package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func ExampleSender_Call() {
	sender, err := rpc.NewSender(rpc.Config{
		Endpoints: []broker.Endpoint{
			{URL: "amqp://guest:guest@rabbit-1:5672/"},
			{URL: "amqp://guest:guest@rabbit-2:5672/"},
		},
		Signer:        token.NewDailyTokens("secret token", nil),
		PreferPrimary: true,
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sender.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := sender.Call(ctx, "NODE-01.math.add", []int{1, 2})
	var remote *rpc.RemoteError
	switch {
	case errors.As(err, &remote):
		fmt.Println("the service failed:", remote.Code, remote.Message)
	case errors.Is(err, rpc.ErrNoRoute):
		fmt.Println("no agent serves NODE-01")
	case rpc.IsRetryable(err):
		fmt.Println("try again later:", err)
	case err != nil:
		fmt.Println(err)
	default:
		var sum int
		if err := reply.Decode(&sum); err != nil {
			fmt.Println("not JSON (a py-servicebus agent?):", reply.Raw)
			return
		}
		fmt.Println(sum)
	}
}
