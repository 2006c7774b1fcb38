package connect

import (
	"strings"
	"testing"
	"time"
)

// TestLockReplayApplies: which running sessions a missed lock or unlock reaches when replayed.
func TestLockReplayApplies(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	before, after, farAfter := at.Add(-time.Minute), at.Add(time.Second), at.Add(LockReplaySkew+time.Second)
	var never time.Time
	for _, tc := range []struct {
		name     string
		locked   bool
		started  time.Time
		isLocked bool
		lockedAt time.Time
		want     bool
	}{
		{"lock, session running then, unlocked", true, before, false, never, true},
		{"lock, session running then, already locked", true, before, true, before, false},
		{"lock, session started just after (clock skew)", true, after, false, never, true},
		{"lock, session started well after", true, farAfter, false, never, false},
		{"lock, session started well after, locked", true, farAfter, true, farAfter, false},
		{"unlock, locked before", false, before, true, before, true},
		{"unlock, locked at the same instant", false, before, true, at, false},
		{"unlock, locked after (a later lock or idle lock)", false, before, true, after, false},
		{"unlock, not locked", false, before, false, never, false},
		{"unlock, session started after, not locked", false, farAfter, false, never, false},
	} {
		if got := LockReplayApplies(tc.locked, at, tc.started, tc.isLocked, tc.lockedAt); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Locks.Replay on real gates: a missed lock reaches the session running when it was sent and not
// the one started well after; a missed unlock lifts that lock but not a lock set after it.
func TestLocksReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	ctx := t.Context()
	l := NewLocks()
	var oldOut, newOut strings.Builder
	old := newIdleGate(ctx, &oldOut, clock)
	l.add("alice", old)
	lockAt := now.Add(time.Second)
	now = now.Add(time.Minute)
	young := newIdleGate(ctx, &newOut, clock)
	l.add("alice", young)
	if n := l.Replay("alice", true, lockAt); n != 1 || !old.isLocked() || young.isLocked() {
		t.Fatalf("replayed lock: %d changed, old locked %v, young locked %v", n, old.isLocked(), young.isLocked())
	}
	if !strings.Contains(oldOut.String(), "This session is locked") {
		t.Fatalf("the locked session was not told: %q", oldOut.String())
	}
	if got := l.Accounts(); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("accounts: %v", got)
	}
	// An unlock sent before the young session's own lock leaves that one locked.
	young.setLocked(true, "")
	if n := l.Replay("alice", false, now.Add(-time.Second)); n != 1 || old.isLocked() || !young.isLocked() {
		t.Fatalf("replayed unlock: %d changed, old locked %v, young locked %v", n, old.isLocked(), young.isLocked())
	}
	l.remove("alice", old)
	l.remove("alice", young)
	if got := l.Accounts(); len(got) != 0 {
		t.Fatalf("accounts after the sessions ended: %v", got)
	}
}
