package brokertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// ErrNoLeader means no member of a quorum queue reports itself as its
// leader: an election is under way, or too few members are up to hold one.
var ErrNoLeader = errors.New("brokertest: quorum queue has no leader")

// QuorumMember is one Raft member of a quorum queue as it reports itself.
type QuorumMember struct {
	Node  string // NAME@localhost
	State string // "leader", "follower", "candidate", ...; "nodedown" when its node is down
	Term  int    // Raft term; 0 when the member did not answer
}

// QuorumStatus asks a running node for the Raft members of quorum queue
// queue in vhost "/" (rabbitmq-queues quorum_status): each member answers
// for itself, so a dead leader is never reported as leading.
func (c *Cluster) QuorumStatus(queue string) ([]QuorumMember, error) {
	var errs []error
	for _, n := range c.Running() {
		out, err := n.Queues("quorum_status", queue, "--formatter", "json", "--quiet")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		members, err := parseQuorumStatus(out)
		if err != nil {
			return nil, fmt.Errorf("quorum_status of %q on %s: %w", queue, n.name, err)
		}
		return members, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("brokertest: no node of the cluster is running")
	}
	return nil, fmt.Errorf("quorum_status of %q: %w", queue, errors.Join(errs...))
}

// parseQuorumStatus reads the JSON of rabbitmq-queues quorum_status. A
// member whose node is down has a Raft State of ["nodedown", NODE] and empty
// strings for the numbers.
func parseQuorumStatus(out string) ([]QuorumMember, error) {
	var rows []struct {
		Node  string          `json:"Node Name"`
		State json.RawMessage `json:"Raft State"`
		Term  json.RawMessage `json:"Term"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &rows); err != nil {
		return nil, fmt.Errorf("%w: %q", err, out)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no members in %q", out)
	}
	members := make([]QuorumMember, len(rows))
	for i, r := range rows {
		m := QuorumMember{Node: r.Node}
		var state string
		var tuple []string
		switch {
		case json.Unmarshal(r.State, &state) == nil:
			m.State = state
		case json.Unmarshal(r.State, &tuple) == nil && len(tuple) > 0:
			m.State = tuple[0]
		default:
			m.State = string(r.State)
		}
		_ = json.Unmarshal(r.Term, &m.Term) // "" when the member did not answer
		members[i] = m
	}
	return members, nil
}

// QuorumLeader is the node that leads quorum queue queue, as the members
// report it; ErrNoLeader while none does.
func (c *Cluster) QuorumLeader(queue string) (*Node, error) {
	members, err := c.QuorumStatus(queue)
	if err != nil {
		return nil, err
	}
	return c.leaderOf(queue, members)
}

func (c *Cluster) leaderOf(queue string, members []QuorumMember) (*Node, error) {
	for _, m := range members {
		if m.State == "leader" {
			if n := c.ByName(m.Node); n != nil {
				return n, nil
			}
			return nil, fmt.Errorf("brokertest: quorum queue %q is led by %s, not a node of this cluster", queue, m.Node)
		}
	}
	return nil, fmt.Errorf("%w: %q: %s", ErrNoLeader, queue, describeMembers(members))
}

// QuorumMembers are the nodes that hold a replica of quorum queue queue.
func (c *Cluster) QuorumMembers(queue string) ([]*Node, error) {
	members, err := c.QuorumStatus(queue)
	if err != nil {
		return nil, err
	}
	nodes := make([]*Node, 0, len(members))
	for _, m := range members {
		n := c.ByName(m.Node)
		if n == nil {
			return nil, fmt.Errorf("brokertest: quorum queue %q has member %s, not a node of this cluster", queue, m.Node)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// WaitQuorumLeader waits until quorum queue queue has a leader on a running
// node other than those in not (say, the node just killed, whose last
// word may still be in a follower's view) and returns it.
func (c *Cluster) WaitQuorumLeader(t testing.TB, queue string, timeout time.Duration, not ...*Node) *Node {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		leader, err := c.QuorumLeader(queue)
		if err == nil && leader.Running() && !slices.Contains(not, leader) {
			return leader
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("leader %s is excluded or not running", leader.name)
			}
			t.Fatalf("brokertest: no new leader of %q within %s: %v", queue, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describeMembers(members []QuorumMember) string {
	parts := make([]string, len(members))
	for i, m := range members {
		parts[i] = m.Node + "=" + m.State
	}
	return strings.Join(parts, " ")
}
