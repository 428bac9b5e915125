//go:build faults

package faulttest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/rpc"
)

const (
	helperURLEnv  = "FAULTTEST_AGENT_URL"
	helperNodeEnv = "FAULTTEST_AGENT_NODE"
)

// TestHelperAgentProcess is not a test: it is the agent process that
// TestAgentKilledWhileHandlingLosesNothing starts and kills. Its message
// service announces the message it got on stdout and holds it.
func TestHelperAgentProcess(t *testing.T) {
	url := os.Getenv(helperURLEnv)
	if url == "" {
		t.Skip("helper process of TestAgentKilledWhileHandlingLosesNothing")
	}
	ag, err := router.NewAgent(router.Config{
		Endpoints: endpoints(0, url), NodeName: os.Getenv(helperNodeEnv), Concurrency: 1, Tokens: codec.NoTokens,
	}, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	hold := time.After(2 * time.Minute) // the parent kills us long before
	ag.AddMessageService("fault", "record", func(ctx context.Context, req *router.Request) error {
		var p payload
		_ = req.Decode(&p)
		fmt.Printf("HANDLING %d %s\n", p.Seq, req.ID)
		<-hold
		return nil
	})
	if err := ag.Start(context.Background()); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	for ag.Consuming() == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("CONSUMING")
	<-hold
	os.Exit(1)
}

// An agent process is killed with SIGKILL while its service handles a
// message: the broker delivers the message again, to a second agent
// instance, and no message is lost.
func TestAgentKilledWhileHandlingLosesNothing(t *testing.T) {
	const total = 10
	url := brokertest.RequireBroker(t)
	log := newTestLog(t)
	node := uniqueName("fault-agentkill")
	t.Cleanup(func() { deleteQueue(t, url, node) })

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgentProcess$", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), helperURLEnv+"="+url, helperNodeEnv+"="+node)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	expect := func(prefix string) string {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("agent process ended before saying %s", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return l
				}
				if strings.HasPrefix(l, "ERROR") {
					t.Fatalf("agent process: %s", l)
				}
			case <-timeout:
				t.Fatalf("agent process did not say %s within a minute", prefix)
			}
		}
	}
	expect("CONSUMING")

	sender := newSender(t, log, rpc.Config{Endpoints: endpoints(0, url)})
	for seq := 1; seq <= total; seq++ {
		if err := sender.Send(context.Background(), node+".fault.record", payload{Seq: seq}); err != nil {
			t.Fatalf("Send %d: %v", seq, err)
		}
	}
	var heldSeq int
	var heldID string
	if _, err := fmt.Sscanf(expect("HANDLING"), "HANDLING %d %s", &heldSeq, &heldID); err != nil {
		t.Fatal(err)
	}
	killAt := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	log.printf("TEST agent process killed while handling seq %d", heldSeq)
	for range lines { // the pipe is closed now
	}

	rec := newRecorder()
	startAgent(t, log, router.Config{Endpoints: endpoints(0, url), NodeName: node}, func(ag *router.Agent) {
		ag.AddMessageService("fault", "record", func(ctx context.Context, req *router.Request) error {
			_, err := rec.add(req)
			return err
		})
	})
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	var redeliveredAfter time.Duration
	waitFor(t, time.Minute, "every message at the second agent", func() bool {
		if redeliveredAfter == 0 && rec.has(heldSeq) {
			redeliveredAfter = time.Since(killAt)
		}
		return len(rec.missing(want)) == 0
	})
	allAfter := time.Since(killAt)
	rec.mu.Lock()
	heldRedelivered := false
	for _, d := range rec.deliveries {
		if d.seq == heldSeq && d.redel {
			heldRedelivered = true
		}
	}
	rec.mu.Unlock()
	deliveries, unique, _, redelivered := rec.counts()
	t.Logf("agent killed while handling seq %d (event %s); second agent got it %s after the kill (redelivered flag %v), all %d after %s; %d deliveries, %d flagged redelivered",
		heldSeq, heldID, redeliveredAfter.Round(time.Millisecond), heldRedelivered, total, allAfter.Round(time.Millisecond), deliveries, redelivered)
	t.Logf("FIGURES agent-kill: lost=%d held_message_redelivered_after=%s all_delivered_after=%s duplicates=%d",
		total-unique, redeliveredAfter.Round(time.Millisecond), allAfter.Round(time.Millisecond), deliveries-unique)
	if !heldRedelivered {
		t.Errorf("the message held by the killed agent did not come back flagged as redelivered")
	}
}

// deleteQueue removes a queue the test left on the shared broker.
func deleteQueue(t *testing.T, url, name string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Logf("delete queue %s: %v", name, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	if _, err := ch.QueueDelete(name, false, false, false); err != nil {
		t.Logf("delete queue %s: %v", name, err)
	}
}
