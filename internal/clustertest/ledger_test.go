//go:build cluster

package clustertest

import (
	"fmt"
	"sync"
	"time"
)

// event is one line of an agent process: a service got or finished work.
type event struct {
	agent       int
	done        bool // DONE; else GOT
	kind        string
	seq         int
	id          string
	redelivered bool
	at          time.Time
}

// ledger is everything the agent processes said, in the order read.
type ledger struct {
	mu     sync.Mutex
	events []event
	bad    []string // lines that are neither GOT nor DONE
}

func (l *ledger) record(agent int, line string) {
	e := event{agent: agent, at: time.Now()}
	var word string
	var err error
	if len(line) > 4 && line[:4] == "DONE" {
		e.done = true
		_, err = fmt.Sscanf(line, "%s %s %d %s", &word, &e.kind, &e.seq, &e.id)
	} else {
		_, err = fmt.Sscanf(line, "%s %s %d %s %t", &word, &e.kind, &e.seq, &e.id, &e.redelivered)
		if word != "GOT" {
			err = fmt.Errorf("unknown line")
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.bad = append(l.bad, fmt.Sprintf("agent %d: %q", agent, line))
		return
	}
	l.events = append(l.events, e)
}

// snapshot is a copy of the events so far.
func (l *ledger) snapshot() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...)
}

func (l *ledger) badLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.bad...)
}

// tally sums up the events of one kind.
type tally struct {
	got      map[int][]event // seq -> GOT events
	done     map[int][]event // seq -> DONE events
	ids      map[string]int  // event id -> DONE events
	doneBy   map[int]int     // agent -> DONE events
	inFlight map[int][]int   // agent -> seqs it GOT more often than it finished
}

func tallyOf(events []event, kind string) tally {
	t := tally{got: map[int][]event{}, done: map[int][]event{}, ids: map[string]int{}, doneBy: map[int]int{}, inFlight: map[int][]int{}}
	open := map[[2]int]int{} // (agent, seq) -> GOT minus DONE
	for _, e := range events {
		if e.kind != kind {
			continue
		}
		key := [2]int{e.agent, e.seq}
		if e.done {
			t.done[e.seq] = append(t.done[e.seq], e)
			t.ids[e.id]++
			t.doneBy[e.agent]++
			open[key]--
		} else {
			t.got[e.seq] = append(t.got[e.seq], e)
			open[key]++
		}
	}
	for key, n := range open {
		if n > 0 {
			t.inFlight[key[0]] = append(t.inFlight[key[0]], key[1])
		}
	}
	return t
}

// missing are the seqs 1..n that no agent finished.
func (t tally) missing(n int) []int {
	var out []int
	for seq := 1; seq <= n; seq++ {
		if len(t.done[seq]) == 0 {
			out = append(out, seq)
		}
	}
	return out
}

// waitDone waits until every seq from..to of kind has a DONE line in the
// ledger, or timeout passes, and returns the tally then. An agent's lines
// reach the ledger through a pipe, so a reply can overtake the line its
// agent printed before sending it.
func (l *ledger) waitDone(kind string, from, to int, timeout time.Duration) tally {
	deadline := time.Now().Add(timeout)
	for {
		t := tallyOf(l.snapshot(), kind)
		missing := false
		for seq := from; seq <= to && !missing; seq++ {
			missing = len(t.done[seq]) == 0
		}
		if !missing || time.Now().After(deadline) {
			return t
		}
		time.Sleep(20 * time.Millisecond)
	}
}
