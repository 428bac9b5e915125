package servicebus_test

import (
	"fmt"

	"github.com/go-servicebus/servicebus"
)

func ExampleConfig_ApplyEnv() {
	cfg := servicebus.DefaultConfig()
	env := map[string]string{
		"SERVICEBUS_HOSTS":        "10.0.0.1, 10.0.0.2:5673, amqps://10.0.0.3",
		"SERVICEBUS_NODE_NAME":    "NODE-01",
		"SERVICEBUS_SECRET_TOKEN": "s3cret",
		"SERVICEBUS_CALL_TIMEOUT": "2.5", // seconds, as py-servicebus
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := cfg.ApplyEnv(lookup); err != nil {
		panic(err)
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	eps, err := cfg.Endpoints(nil)
	if err != nil {
		panic(err)
	}
	for _, ep := range eps {
		fmt.Println(ep, ep.TLS != nil)
	}
	fmt.Println(cfg.NodeName, cfg.CallTimeout, cfg.SecretToken)
	// Output:
	// amqp://10.0.0.1:5672/%2F false
	// amqp://10.0.0.2:5673/%2F false
	// amqps://10.0.0.3:5671/%2F true
	// NODE-01 2.5s [REDACTED]
}

func ExampleConfig_Validate() {
	cfg := servicebus.DefaultConfig()
	cfg.Concurrency = 0
	fmt.Println(cfg.Validate())
	// Output:
	// secret_token: is empty or only blanks: set it, or set token_mode: off to run without tokens
	// concurrency: 0 must be at least 1
}
