package running

import (
	"sync"
	"testing"
	"time"
)

// TestEndDoesNotQueueBehindASlowSession: ending an account's sessions does not wait for one
// session's end before starting the next: a session whose end is slow (its client stopped
// reading: each end waits its bounded notice) must not delay the end of the account's other
// sessions by as much again per session (a freeze of N such sessions would take N bounds).
func TestEndDoesNotQueueBehindASlowSession(t *testing.T) {
	r := New()
	const n = 8
	release := make(chan struct{})
	var entered sync.WaitGroup
	entered.Add(n)
	for i := range n {
		r.Add("acct", string(rune('a'+i)), func(string, int, bool) {
			entered.Done()
			<-release // a slow end: a client that does not read
		})
	}
	done := make(chan []string, 1)
	go func() { done <- r.End("acct", "frozen", 131) }()
	all := make(chan struct{})
	go func() { entered.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(10 * time.Second): // a failure's bound only
		t.Fatal("the sessions' ends were queued behind a slow one")
	}
	close(release)
	if ids := <-done; len(ids) != n {
		t.Fatalf("ended %v", ids)
	}
}
