package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// The per-source MFA throttling is shared by the handles (nodes): tries and per-account counts
// written through one are read through the other, two handles counting at once both count (no
// lost update), a failing fn saves nothing, and idle sources are swept.
func testMFASourcesShared(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := context.Background()
	read := func(s store.Store, src string) store.MFASourceState {
		t.Helper()
		var got store.MFASourceState
		if err := s.UpdateMFASource(ctx, src, func(st *store.MFASourceState) error { got = *st; return errReadOnly }); !errors.Is(err, errReadOnly) {
			t.Fatalf("read %s: %v", src, err)
		}
		return got
	}
	if st := read(b, "192.0.2.9"); st.Tries != nil || st.Counted != nil || !st.Seen.IsZero() {
		t.Fatalf("unknown source: %+v", st)
	}
	now := time.Unix(1_800_000_000, 42).UTC()
	if err := a.UpdateMFASource(ctx, "192.0.2.9", func(st *store.MFASourceState) error {
		st.Tries = []time.Time{now.Add(-time.Second), now}
		st.Counted = map[string]int{"alice": 2, "bob": 1}
		st.Seen = now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := read(b, "192.0.2.9")
	if len(st.Tries) != 2 || !st.Tries[0].Equal(now.Add(-time.Second)) || !st.Tries[1].Equal(now) ||
		st.Counted["alice"] != 2 || st.Counted["bob"] != 1 || len(st.Counted) != 2 || !st.Seen.Equal(now) {
		t.Fatalf("through the other handle: %+v", st)
	}
	if err := b.UpdateMFASource(ctx, "192.0.2.9", func(st *store.MFASourceState) error {
		st.Counted["alice"] = 99
		return errors.New("refused")
	}); err == nil {
		t.Fatal("fn's error not returned")
	}
	if st := read(a, "192.0.2.9"); st.Counted["alice"] != 2 {
		t.Fatalf("a failed update saved %+v", st)
	}
	// Two nodes failing at once: every try and every count is kept.
	const each = 40
	var wg sync.WaitGroup
	for i, s := range []store.Store{a, b} {
		wg.Go(func() {
			for j := range each {
				err := s.UpdateMFASource(ctx, "198.51.100.2", func(st *store.MFASourceState) error {
					st.Tries = append(st.Tries, now.Add(time.Duration(i*each+j)))
					if st.Counted == nil {
						st.Counted = map[string]int{}
					}
					st.Counted["alice"]++
					st.Seen = now
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := read(a, "198.51.100.2"); len(st.Tries) != 2*each || st.Counted["alice"] != 2*each {
		t.Fatalf("two handles at once: %d tries, %d counted, want %d", len(st.Tries), st.Counted["alice"], 2*each)
	}
	if n, err := b.ForgetMFASources(ctx, now); err != nil || n != 0 {
		t.Fatalf("sweep of sources seen at the cut: %d %v", n, err)
	}
	if n, err := b.ForgetMFASources(ctx, now.Add(time.Nanosecond)); err != nil || n != 2 {
		t.Fatalf("sweep after: %d %v", n, err)
	}
	if st := read(a, "198.51.100.2"); st.Tries != nil || st.Counted != nil {
		t.Fatalf("swept source still has %+v", st)
	}
}

var errReadOnly = errors.New("read only")

// The lock state of the accounts' sessions is kept: each lock or unlock gets the next version of
// its account, through either handle, also when both write at once; the states are read back
// for a list of accounts (unknown ones have none).
func testSessionLocksStored(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := context.Background()
	if ls, err := b.SessionLockStates(ctx, []string{"alice"}); err != nil || len(ls) != 0 {
		t.Fatalf("no lock yet: %+v %v", ls, err)
	}
	at := time.Unix(1_800_000_000, 7).UTC()
	l, err := a.SetSessionLock(ctx, store.SessionLock{Account: "alice", Locked: true, At: at, Node: "n1", By: "alice"})
	if err != nil || l.Version != 1 {
		t.Fatalf("first lock: %+v %v", l, err)
	}
	l, err = b.SetSessionLock(ctx, store.SessionLock{Account: "alice", Locked: false, At: at.Add(time.Second), Node: "n2", By: "alice"})
	if err != nil || l.Version != 2 {
		t.Fatalf("unlock: %+v %v", l, err)
	}
	if _, err := a.SetSessionLock(ctx, store.SessionLock{Account: "bob", Locked: true, At: at, Node: "n1", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	ls, err := a.SessionLockStates(ctx, []string{"alice", "bob", "carol"})
	if err != nil || len(ls) != 2 {
		t.Fatalf("states: %+v %v", ls, err)
	}
	for _, l := range ls {
		switch l.Account {
		case "alice":
			if l.Locked || l.Version != 2 || !l.At.Equal(at.Add(time.Second)) || l.Node != "n2" || l.By != "alice" {
				t.Fatalf("alice: %+v", l)
			}
		case "bob":
			if !l.Locked || l.Version != 1 || !l.At.Equal(at) || l.Node != "n1" {
				t.Fatalf("bob: %+v", l)
			}
		default:
			t.Fatalf("unexpected %+v", l)
		}
	}
	const each = 20
	var wg sync.WaitGroup
	for _, s := range []store.Store{a, b} {
		wg.Go(func() {
			for j := range each {
				if _, err := s.SetSessionLock(ctx, store.SessionLock{Account: "carol", Locked: j%2 == 0, At: at}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if ls, err := b.SessionLockStates(ctx, []string{"carol"}); err != nil || len(ls) != 1 || ls[0].Version != 2*each {
		t.Fatalf("two handles at once: %+v %v, want version %d", ls, err, 2*each)
	}
}

// The per-account MFA limits (pam_faillock's counters) are shared by the handles: two handles
// counting failures of one account and factor at once both count, a lock set through one is
// read through the other, and a reset (accountUnlock) through either clears it for both.
func testMFALimitsShared(t *testing.T, h Harness) {
	a := h.Fresh(t)
	ctx := withAccounts(t, a, "alice")
	b := h.Again(t, a)
	const each = 40
	var wg sync.WaitGroup
	for _, s := range []store.Store{a, b} {
		wg.Go(func() {
			for range each {
				if err := s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error {
					st.Failures++
					st.Fails = append(st.Fails, time.Unix(1_800_000_000, int64(st.Failures)))
					st.Locked = st.Failures >= 2*each
					return nil
				}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var got store.MFALimitState
	read := func(s store.Store) {
		t.Helper()
		if err := s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return errReadOnly }); !errors.Is(err, errReadOnly) {
			t.Fatal(err)
		}
	}
	read(a)
	if got.Failures != 2*each || len(got.Fails) != 2*each || !got.Locked {
		t.Fatalf("two handles failing at once: %d failures, %d kept, locked %v; want %d and locked", got.Failures, len(got.Fails), got.Locked, 2*each)
	}
	if err := b.ResetMFALimits(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	read(a)
	if got.Failures != 0 || got.Locked || got.Fails != nil {
		t.Fatalf("after a reset through the other handle: %+v", got)
	}
}
