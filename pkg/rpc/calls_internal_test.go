package rpc

import (
	"errors"
	"testing"
)

func TestCallTableMatchesRepliesOnlyOnTheirPath(t *testing.T) {
	tab := newCallTable()
	c := &call{id: "a-1", done: make(chan struct{})}
	c.where.Store(packWhere(1, 7))
	tab.add(c)

	if got, found := tab.take("unknown", 1); got != nil || found {
		t.Fatal("an unknown correlation id must not match")
	}
	if got, found := tab.take("a-1", 0); got != nil || !found {
		t.Fatal("a reply on another path must be ignored, and the call kept")
	}
	// Only calls confirmed on the lost generation fail.
	if n := tab.failPath(1, 7, errors.New("lost")); n != 0 {
		t.Fatalf("failPath failed %d unsent calls", n)
	}
	c.sent.Store(true)
	if n := tab.failPath(1, 6, errors.New("lost")); n != 0 {
		t.Fatalf("failPath of an older generation failed %d calls", n)
	}
	if n := tab.failPath(1, 7, errors.New("lost")); n != 1 {
		t.Fatalf("failPath failed %d calls, want 1", n)
	}
	if <-c.done; c.res.err == nil {
		t.Fatal("the failed call got no error")
	}
	if tab.remove(c) {
		t.Fatal("a failed call is no longer in the table")
	}
}

func TestPackWhereRoundTrips(t *testing.T) {
	p, g := unpackWhere(packWhere(3, 1<<40+5))
	if p != 3 || g != 1<<40+5 {
		t.Fatalf("got %d %d", p, g)
	}
}

// A reply takes its call out of the table: a second reply with the same
// correlation id finds nothing, so it cannot finish the call again (closing
// its done channel twice would panic the reply reader).
func TestTakeRemovesTheCall(t *testing.T) {
	tab := newCallTable()
	c := &call{id: "a-1", done: make(chan struct{})}
	c.where.Store(packWhere(0, 1))
	tab.add(c)
	if got, found := tab.take("a-1", 0); got != c || !found {
		t.Fatal("the first reply must take the call")
	}
	if got, found := tab.take("a-1", 0); got != nil || found {
		t.Fatalf("a second reply found the call (found %v, call %v): it was not removed", found, got != nil)
	}
	if tab.remove(c) {
		t.Fatal("the taken call was still in the table")
	}
}
