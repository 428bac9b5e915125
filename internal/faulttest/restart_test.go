//go:build faults

package faulttest

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// restartBound is the published bound (README, docs/reliability.md) for
// broker ready -> first call served with the default backoff (100 ms
// doubling to 2 s, ±20 %): the longest wait between two attempts (2.4 s)
// plus 1.1 s for the connect, the topology and a call under -race on two
// busy cores. Measured: 0.14–1.8 s.
const restartBound = 3500 * time.Millisecond

// A broker goes away (clean stop or SIGKILL) and comes back: the agent's
// path and the sender reconnect by themselves, with the topology declared
// again (the compat exchange is not durable, so the restarted broker has
// lost it and its bindings), and calls are served again on that broker.
func TestAgentAndSenderComeBackAfterBrokerRestart(t *testing.T) {
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			log := newTestLog(t)
			a := brokertest.StartNode(t, brokertest.NodeOptions{})
			node := testkit.UniqueName("fault-restart")
			agent := startAgent(t, log, router.Config{Endpoints: endpoints(0, a.URL()), NodeName: node},
				func(ag *router.Agent) {
					ag.AddRPCService("fault", "echo", func(ctx context.Context, req *router.Request) (any, error) {
						return req.Meta.Broker, nil
					})
				})
			sender := newSender(t, log, rpc.Config{Endpoints: endpoints(0, a.URL())})
			testkit.Eventually(t, time.Minute, "agent consuming", func() bool { return agent.Consuming() == 1 })
			call := func(timeout time.Duration) error {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				_, err := sender.Call(ctx, node+".fault.echo", nil)
				return err
			}
			if err := call(10 * time.Second); err != nil {
				t.Fatalf("call before the restart: %v", err)
			}

			downAt := time.Now()
			if how == "kill" {
				a.Kill(t)
			} else {
				a.Stop(t)
			}
			testkit.Eventually(t, 10*time.Second, "agent and sender to notice", func() bool {
				return agent.Consuming() == 0 && !senderReady(sender, 0)
			})
			noticed := time.Since(downAt)
			log.printf("TEST broker down (%s)", how)
			a.Start(t)
			readyAt := time.Now()
			log.printf("TEST broker ready")

			var agentBack, senderBack, served time.Duration
			attempts := 0
			deadline := readyAt.Add(30 * time.Second)
			for served == 0 && time.Now().Before(deadline) {
				if agentBack == 0 && agent.Consuming() == 1 {
					agentBack = time.Since(readyAt)
				}
				if senderBack == 0 && senderReady(sender, 0) {
					senderBack = time.Since(readyAt)
				}
				attempts++
				if err := call(time.Second); err == nil {
					served = time.Since(readyAt)
				} else if time.Since(readyAt) > 10*time.Second {
					t.Logf("call %s after ready: %v", time.Since(readyAt).Round(time.Millisecond), err)
				}
				if served == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if served == 0 {
				t.Fatalf("no call served within 30 s of the broker being ready")
			}
			if agentBack == 0 {
				agentBack = served
			}
			if senderBack == 0 {
				senderBack = served
			}

			// The exchange the restarted broker had lost is there again.
			conn, err := amqp.Dial(a.URL())
			if err != nil {
				t.Fatal(err)
			}
			ch, err := conn.Channel()
			if err == nil {
				err = ch.ExchangeDeclarePassive(topology.Topology{}.ExchangeName(), "direct", false, false, false, false, nil)
			}
			conn.Close()
			if err != nil {
				t.Errorf("exchange not declared again: %v", err)
			}

			t.Logf("down noticed after %s; after ready: agent consuming %s, sender ready %s, first call served %s (%d attempts)",
				noticed.Round(time.Millisecond), agentBack.Round(time.Millisecond), senderBack.Round(time.Millisecond), served.Round(time.Millisecond), attempts)
			t.Logf("FIGURES restart-%s: ready_to_agent_consuming=%s ready_to_sender_ready=%s ready_to_first_call_served=%s bound=%s",
				how, agentBack.Round(time.Millisecond), senderBack.Round(time.Millisecond), served.Round(time.Millisecond), restartBound)
			if served > restartBound {
				t.Errorf("first call served %s after the broker was ready; published bound %s", served, restartBound)
			}
		})
	}
}
