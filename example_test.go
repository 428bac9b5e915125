package servicebus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	servicebus "github.com/go-servicebus/servicebus"
)

// The seed's AddService: an agent of node NODE-01 answering math.add.
func ExampleNewAgent() {
	cfg, err := servicebus.LoadConfig("agent.yaml") // SERVICEBUS_* variables override the file
	if err != nil {
		log.Fatal(err)
	}
	agent, err := servicebus.NewAgent(cfg, servicebus.LogrusLogger(nil))
	if err != nil {
		log.Fatal(err)
	}
	agent.AddRPCService("math", "add", servicebus.RPC(func(ctx context.Context, p []float64) (float64, error) {
		sum := 0.0
		for _, v := range p {
			sum += v
		}
		return sum, nil
	}))
	agent.AddMessageService("math", "add", servicebus.Message(func(ctx context.Context, p []float64) error {
		log.Printf("math.add message with %d numbers", len(p))
		return nil
	}))
	// Run serves until ctx is done, then drains the work in flight.
	if err := agent.Run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// A caller of NODE-01.math.add, branching on the errors it may get.
func ExampleNewSender() {
	cfg, err := servicebus.LoadConfig("") // defaults and SERVICEBUS_* only
	if err != nil {
		log.Fatal(err)
	}
	sender, err := servicebus.NewSender(cfg, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := sender.Call(ctx, "NODE-01.math.add", []int{1, 2})
	var remote *servicebus.RemoteError
	switch {
	case errors.As(err, &remote):
		log.Fatalf("the service failed: %s (%s)", remote.Message, remote.Code)
	case errors.Is(err, servicebus.ErrNoRoute):
		log.Fatal("no agent serves NODE-01")
	case errors.Is(err, servicebus.ErrTimeout):
		log.Fatal("no answer in time")
	case err != nil:
		log.Fatal(err)
	}
	var sum int
	if err := reply.Decode(&sum); err != nil {
		log.Fatalf("not JSON (a py-servicebus agent answers str()): %s", reply.Raw)
	}
	fmt.Println(sum)

	// A message: returns once a broker confirmed it.
	if err := sender.Send(ctx, "NODE-01.math.add", []int{3, 4}); err != nil {
		log.Fatal(err)
	}
}
