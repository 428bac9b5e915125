package brokertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultClusterSize is the node count of StartCluster when none is given:
// the smallest cluster whose quorum queues survive the loss of a node.
const DefaultClusterSize = 3

// ClusterOptions configures a throwaway cluster.
type ClusterOptions struct {
	Size        int      // nodes; 0 = DefaultClusterSize
	ExtraConfig []string // extra rabbitmq.conf lines of every node
}

// Cluster is throwaway nodes on 127.0.0.1 joined into one RabbitMQ cluster.
// Its nodes are ordinary Nodes: Kill, Stop and Start work on each, and a node
// started again rejoins the cluster by itself.
type Cluster struct {
	nodes []*Node
}

// StartCluster boots Size nodes at once, joins every node to the first with
// rabbitmqctl join_cluster, and waits until every node runs as a member.
// Cleanup ends every node and removes its directories, as StartNode does.
// Without RabbitMQ installed or the rights to run it, the test fails in
// CI (testkit.InCI) and is skipped otherwise.
func StartCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	size := opts.Size
	if size == 0 {
		size = DefaultClusterSize
	}
	if size < 1 {
		t.Fatalf("brokertest: cluster of %d nodes", size)
	}
	m := requireMachine(t)
	start := time.Now()
	nodes := make([]*Node, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			nodes[i], errs[i] = startNode(t, m, NodeOptions{ExtraConfig: opts.ExtraConfig})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("brokertest: start cluster: %v", err)
	}
	booted := time.Since(start)
	c := &Cluster{nodes: nodes}
	if err := c.join(); err != nil {
		t.Fatalf("brokertest: form cluster: %v", err)
	}
	t.Logf("brokertest: cluster of %d nodes up in %s (boot %s, join %s): %s",
		size, time.Since(start).Round(time.Millisecond), booted.Round(time.Millisecond),
		(time.Since(start) - booted).Round(time.Millisecond), strings.Join(c.Names(), ", "))
	return c
}

// join makes every node after the first a member of the first's cluster.
func (c *Cluster) join() error {
	seed, joiners := c.nodes[0], c.nodes[1:]
	if err := each(joiners, func(n *Node) error {
		_, err := n.Ctl("stop_app")
		return err
	}); err != nil {
		return err
	}
	// One join at a time: each one changes the cluster's schema.
	for _, n := range joiners {
		if _, err := n.Ctl("join_cluster", seed.name); err != nil {
			return err
		}
	}
	if err := each(joiners, func(n *Node) error {
		if _, err := n.Ctl("start_app"); err != nil {
			return err
		}
		return n.waitReady(StartTimeout)
	}); err != nil {
		return err
	}
	running, err := c.runningMembers(seed)
	if err != nil {
		return err
	}
	if len(running) != len(c.nodes) {
		return fmt.Errorf("%s sees running members %v, want %v", seed.name, running, c.Names())
	}
	return nil
}

// each runs f on every node at once and joins their errors.
func each(nodes []*Node, f func(*Node) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Nodes are the cluster's nodes; the first is the one the others joined.
func (c *Cluster) Nodes() []*Node { return append([]*Node(nil), c.nodes...) }

// Node is the i-th node.
func (c *Cluster) Node(i int) *Node { return c.nodes[i] }

// Names are the Erlang node names, in order.
func (c *Cluster) Names() []string {
	names := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		names[i] = n.name
	}
	return names
}

// URLs are the AMQP URLs of every node, in order.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL()
	}
	return urls
}

// Hosts are "127.0.0.1:PORT" of every node, in order: servicebus's hosts key.
func (c *Cluster) Hosts() []string {
	hosts := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", n.port)
	}
	return hosts
}

// ByName is the node called name (NAME@localhost), nil if none is.
func (c *Cluster) ByName(name string) *Node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// Index is n's position in the cluster, -1 if n is not one of its nodes.
func (c *Cluster) Index(n *Node) int {
	for i, m := range c.nodes {
		if m == n {
			return i
		}
	}
	return -1
}

// Restart stops n cleanly if it runs (one step of a rolling restart), or
// takes it as it is after Kill, starts it again with its data, and waits
// until the cluster counts it as a running member again.
func (c *Cluster) Restart(t testing.TB, n *Node) {
	t.Helper()
	if c.Index(n) < 0 {
		t.Fatalf("brokertest: node %s is not in the cluster", n.name)
	}
	n.Stop(t)
	n.Start(t)
	c.WaitRunningMembers(t, StartTimeout)
}

// Running are the nodes whose process is alive.
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// RunningMembers are the names of the members that a running node sees
// running (rabbitmqctl cluster_status), sorted.
func (c *Cluster) RunningMembers() ([]string, error) {
	var errs []error
	for _, n := range c.Running() {
		names, err := c.runningMembers(n)
		if err == nil {
			return names, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no running node answered cluster_status: %w", errors.Join(errs...))
}

func (c *Cluster) runningMembers(n *Node) ([]string, error) {
	out, err := n.Ctl("cluster_status", "--formatter", "json", "--quiet")
	if err != nil {
		return nil, err
	}
	var status struct {
		RunningNodes []string `json:"running_nodes"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &status); err != nil {
		return nil, fmt.Errorf("cluster_status of %s: %w: %s", n.name, err, out)
	}
	return sortedCopy(status.RunningNodes), nil
}

// WaitRunningMembers waits until a running node sees exactly the running
// nodes of the cluster as running members: a killed node has been noticed,
// a restarted one has rejoined.
func (c *Cluster) WaitRunningMembers(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var want []string
		for _, n := range c.Running() {
			want = append(want, n.name)
		}
		want = sortedCopy(want)
		got, err := c.RunningMembers()
		if err == nil && strings.Join(got, " ") == strings.Join(want, " ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokertest: running members %v (%v), want %v within %s", got, err, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsonPart drops anything rabbitmqctl prints before its JSON document.
func jsonPart(out string) string {
	if i := strings.IndexAny(out, "{["); i > 0 {
		return out[i:]
	}
	return out
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
