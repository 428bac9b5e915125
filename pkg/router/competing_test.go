package router_test

import (
	"context"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/broker"
	"github.com/go-servicebus/servicebus/pkg/router"
)

// infoLog records the info lines of an agent.
type infoLog struct {
	watermill.NopLogger
	mu    sync.Mutex
	lines []string
}

func (l *infoLog) Info(msg string, _ watermill.LogFields) {
	l.mu.Lock()
	l.lines = append(l.lines, msg)
	l.mu.Unlock()
}

func (l *infoLog) With(watermill.LogFields) watermill.LoggerAdapter { return l }

func (l *infoLog) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			return true
		}
	}
	return false
}

// A second agent with the same node name says at start-up that it shares the
// queue; the first, alone at its start, says nothing of the kind.
func TestSecondAgentOfANodeLogsCompetingConsumers(t *testing.T) {
	url := brokerURL()
	dialBroker(t, url)
	node := testkit.UniqueName("sbtest-competing")
	testkit.DeleteQueues(t, url, node)
	logs := []*infoLog{{}, {}}
	for _, log := range logs {
		startLoggedAgent(t, node, log, nil)
	}
	want := "2 consumers share " + node + ": competing consumers"
	if logs[0].has("consumers share") {
		t.Errorf("the first agent logged a shared queue: %q", logs[0].lines)
	}
	if !logs[1].has(want) {
		t.Errorf("the second agent did not log %q: %q", want, logs[1].lines)
	}
}

// An agent whose two paths reach the same broker consumes the queue twice
// itself: that is not another agent. The second path comes up (through a
// proxy that refuses it at first) only once the first consumes, so its check
// sees the first path's consumer.
func TestAgentDoesNotCountItsOwnConsumers(t *testing.T) {
	url := brokerURL()
	dialBroker(t, url)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := brokertest.NewProxy(t, u.Host)
	proxy.SetMode(brokertest.Reset)
	pass, _ := u.User.Password()
	node := testkit.UniqueName("sbtest-ownpaths")
	testkit.DeleteQueues(t, url, node)
	log := &infoLog{}
	a, err := router.NewAgent(func() router.Config {
		c := testConfig(node)
		c.Endpoints = []broker.Endpoint{{URL: url}, {URL: proxy.URL(u.User.Username(), pass), DialTimeout: time.Second}}
		c.Backoff = broker.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}
		return c
	}(), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	testkit.Eventually(t, 10*time.Second, "first path consuming", func() bool { return a.Consuming() == 1 })
	proxy.SetMode(brokertest.Pass)
	testkit.Eventually(t, 10*time.Second, "both paths consuming", func() bool { return a.Consuming() == 2 })
	if log.has("consumers share") {
		t.Errorf("an agent alone logged a shared queue: %q", log.lines)
	}
}
