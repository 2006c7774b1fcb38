package connect

import (
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
