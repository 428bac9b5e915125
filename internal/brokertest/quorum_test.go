package brokertest

import (
	"errors"
	"testing"
)

// What rabbitmq-queues 3.10 printed for a three-member queue, one of whose
// nodes had just been killed.
const quorumStatusNodeDown = `[
{"Node Name":"sbtest-bb3b758d@localhost","Raft State":"leader","Log Index":2,"Commit Index":2,"Snapshot Index":"undefined","Term":1,"Machine Version":2}
,{"Node Name":"sbtest-bb983da9@localhost","Raft State":"follower","Log Index":2,"Commit Index":2,"Snapshot Index":"undefined","Term":1,"Machine Version":2}
,{"Node Name":"sbtest-687b40e6@localhost","Raft State":["nodedown","sbtest-687b40e6@localhost"],"Log Index":"","Commit Index":"","Snapshot Index":"","Term":"","Machine Version":""}
]
`

func TestParseQuorumStatusReadsLeaderFollowerAndDownMembers(t *testing.T) {
	members, err := parseQuorumStatus("Status of quorum queue q on node x ...\n" + quorumStatusNodeDown)
	if err != nil {
		t.Fatal(err)
	}
	want := []QuorumMember{
		{Node: "sbtest-bb3b758d@localhost", State: "leader", Term: 1},
		{Node: "sbtest-bb983da9@localhost", State: "follower", Term: 1},
		{Node: "sbtest-687b40e6@localhost", State: "nodedown"},
	}
	if len(members) != len(want) {
		t.Fatalf("members %+v, want %+v", members, want)
	}
	for i := range want {
		if members[i] != want[i] {
			t.Errorf("member %d: %+v, want %+v", i, members[i], want[i])
		}
	}
}

func TestParseQuorumStatusRejectsWhatItCannotRead(t *testing.T) {
	for _, out := range []string{"", "Error: queue not found", "[]", `{"Node Name": 1}`} {
		if _, err := parseQuorumStatus(out); err == nil {
			t.Errorf("parseQuorumStatus(%q) succeeded", out)
		}
	}
}

func TestQuorumLeaderOfAClusterWithoutRunningNodesIsAnError(t *testing.T) {
	c := &Cluster{nodes: []*Node{{name: "a@localhost"}, {name: "b@localhost"}}}
	if _, err := c.QuorumLeader("q"); err == nil || errors.Is(err, ErrNoLeader) {
		t.Fatalf("QuorumLeader with no node running: %v", err)
	}
}

func TestLeaderOfNamesTheLeadingNodeOrSaysThereIsNone(t *testing.T) {
	a, b := &Node{name: "a@localhost"}, &Node{name: "b@localhost"}
	c := &Cluster{nodes: []*Node{a, b}}
	leader, err := c.leaderOf("q", []QuorumMember{{Node: "a@localhost", State: "follower"}, {Node: "b@localhost", State: "leader"}})
	if err != nil || leader != b {
		t.Fatalf("leader %v, %v; want b", leader, err)
	}
	_, err = c.leaderOf("q", []QuorumMember{{Node: "a@localhost", State: "candidate"}, {Node: "b@localhost", State: "nodedown"}})
	if !errors.Is(err, ErrNoLeader) {
		t.Fatalf("election under way: %v, want ErrNoLeader", err)
	}
	_, err = c.leaderOf("q", []QuorumMember{{Node: "z@localhost", State: "leader"}})
	if err == nil || errors.Is(err, ErrNoLeader) {
		t.Fatalf("leader outside the cluster: %v", err)
	}
}
