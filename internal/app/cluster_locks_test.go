package app

import (
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestLockReplayNeeded: a stored lock/unlock is replayed only when newer than what the node applied.
func TestLockReplayNeeded(t *testing.T) {
	for _, tc := range []struct {
		stored, applied int64
		want            bool
	}{
		{1, 0, true},  // never applied anything of the account (a missed first lock)
		{5, 4, true},  // missed the last one
		{5, 5, false}, // applied live
		{4, 5, false}, // an older state read after a newer control came in live
		{0, 0, false}, // nothing stored
	} {
		if got := LockReplayNeeded(tc.stored, tc.applied); got != tc.want {
			t.Errorf("stored %d, applied %d: %v, want %v", tc.stored, tc.applied, got, tc.want)
		}
	}
}

// TestLiveLockApplies: a lock/unlock received live is applied unless older than what was applied.
func TestLiveLockApplies(t *testing.T) {
	for _, tc := range []struct {
		version, applied int64
		want             bool
	}{
		{1, 0, true},
		{6, 5, true},
		{5, 6, false}, // crossed with a newer one already applied
		{5, 5, false}, // the same one twice
		{0, 5, true},  // its sender could not store it: applied as it comes
		{0, 0, true},
	} {
		if got := LiveLockApplies(tc.version, tc.applied); got != tc.want {
			t.Errorf("version %d, applied %d: %v, want %v", tc.version, tc.applied, got, tc.want)
		}
	}
}

// The versions: a live control noted, then an older stored state is not replayed over it, a
// newer one is, once.
func TestLockVersions(t *testing.T) {
	var v lockVersions
	ran := 0
	v.apply("alice", 3, func() { ran++ })
	at := time.Unix(1_800_000_000, 0)
	if v.replay(store.SessionLock{Account: "alice", Version: 2, At: at}, func() { ran++ }) || ran != 1 {
		t.Fatalf("an older state was replayed (ran %d)", ran)
	}
	if !v.replay(store.SessionLock{Account: "alice", Version: 4, At: at}, func() { ran++ }) || ran != 2 {
		t.Fatalf("a newer state was not replayed (ran %d)", ran)
	}
	if v.replay(store.SessionLock{Account: "alice", Version: 4, At: at}, func() { ran++ }) || ran != 2 || v.replayed.Load() != 1 {
		t.Fatalf("replayed twice (ran %d, counted %d)", ran, v.replayed.Load())
	}
	v.apply("alice", 0, func() { ran++ }) // a control its sender could not store: no version
	if v.applied["alice"] != 4 || ran != 3 {
		t.Fatalf("version went back to %d (ran %d)", v.applied["alice"], ran)
	}
	v.apply("alice", 3, func() { ran++ }) // crossed with version 4: stale
	if ran != 3 {
		t.Fatal("a stale live control was applied")
	}
}
