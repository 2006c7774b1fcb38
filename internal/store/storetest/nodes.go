package storetest

import (
	"context"
	"errors"
	"fmt"
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
		if err := s.UpdateMFASource(ctx, src, store.MFASourceRoom{}, func(st *store.MFASourceState) error { got = *st; return errReadOnly }); !errors.Is(err, errReadOnly) {
			t.Fatalf("read %s: %v", src, err)
		}
		return got
	}
	if st := read(b, "192.0.2.9"); st.Tries != nil || st.Counted != nil || !st.Seen.IsZero() {
		t.Fatalf("unknown source: %+v", st)
	}
	now := time.Unix(1_800_000_000, 42).UTC()
	if err := a.UpdateMFASource(ctx, "192.0.2.9", store.MFASourceRoom{}, func(st *store.MFASourceState) error {
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
	if err := b.UpdateMFASource(ctx, "192.0.2.9", store.MFASourceRoom{}, func(st *store.MFASourceState) error {
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
				err := s.UpdateMFASource(ctx, "198.51.100.2", store.MFASourceRoom{}, func(st *store.MFASourceState) error {
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

// The per-source MFA table holds at most Max sources: a new source in a full table evicts the
// sources idle since IdleBefore, then the least recently seen before QuietBefore (out of the
// rate window), and is refused (ErrMFASourcesFull, nothing saved, fn not called) when every
// source has tried within the window; known sources still count while it is full; through
// either handle.
func testMFASourcesCapped(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	room := store.MFASourceRoom{Max: 5, IdleBefore: now.Add(-24 * time.Hour), QuietBefore: now.Add(-time.Minute)}
	put := func(s store.Store, src string, seen time.Time) error {
		return s.UpdateMFASource(ctx, src, room, func(st *store.MFASourceState) error {
			st.Tries, st.Seen = append(st.Tries, seen), seen
			return nil
		})
	}
	// kept says which sources the table holds (a read with no cap: it saves nothing).
	kept := func(srcs ...string) string {
		t.Helper()
		var out []string
		for _, src := range srcs {
			var st store.MFASourceState
			if err := a.UpdateMFASource(ctx, src, store.MFASourceRoom{}, func(s *store.MFASourceState) error { st = *s; return errReadOnly }); !errors.Is(err, errReadOnly) {
				t.Fatalf("read %s: %v", src, err)
			}
			if !st.Seen.IsZero() {
				out = append(out, src)
			}
		}
		return fmt.Sprint(out)
	}
	all := []string{"idle", "quiet-old", "quiet", "busy1", "busy2", "new1", "new2", "new3", "new4"}
	for _, p := range []struct {
		src  string
		seen time.Time
	}{{"idle", now.Add(-48 * time.Hour)}, {"quiet-old", now.Add(-20 * time.Minute)}, {"quiet", now.Add(-10 * time.Minute)},
		{"busy1", now.Add(-10 * time.Second)}, {"busy2", now.Add(-5 * time.Second)}} {
		if err := put(a, p.src, p.seen); err != nil {
			t.Fatal(err)
		}
	}
	for i, step := range []struct {
		s    store.Store
		src  string
		err  error
		want string
	}{
		{a, "new1", nil, "[quiet-old quiet busy1 busy2 new1]"}, // the idle one goes first
		{b, "new2", nil, "[quiet busy1 busy2 new1 new2]"},      // then the least recently seen out of the window
		{a, "new3", nil, "[busy1 busy2 new1 new2 new3]"},
		{b, "new4", store.ErrMFASourcesFull, "[busy1 busy2 new1 new2 new3]"}, // all within the window: refused
		{a, "busy1", nil, "[busy1 busy2 new1 new2 new3]"},                    // a known source still counts
	} {
		if err := put(step.s, step.src, now); !errors.Is(err, step.err) {
			t.Fatalf("step %d (%s): %v, want %v", i, step.src, err, step.err)
		}
		if got := kept(all...); got != step.want {
			t.Fatalf("step %d (%s): the table holds %s, want %s", i, step.src, got, step.want)
		}
	}
	called := false
	if err := a.UpdateMFASource(ctx, "new4", room, func(*store.MFASourceState) error { called = true; return nil }); !errors.Is(err, store.ErrMFASourcesFull) || called {
		t.Fatalf("a refused source: %v, fn called %v", err, called)
	}
	var st store.MFASourceState
	if err := a.UpdateMFASource(ctx, "busy1", store.MFASourceRoom{}, func(s *store.MFASourceState) error { st = *s; return errReadOnly }); !errors.Is(err, errReadOnly) || len(st.Tries) != 2 {
		t.Fatalf("busy1 while full: %d tries (%v), want 2", len(st.Tries), err)
	}
}

// Deleting an account removes its session lock state: a new account of the same name starts
// with none, and its first lock is version 1.
func testSessionLockGoesWithAccount(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := withAccounts(t, a, "alice", "bob")
	at := time.Unix(1_800_000_000, 0).UTC()
	for _, n := range []string{"alice", "bob"} {
		if _, err := a.SetSessionLock(ctx, store.SessionLock{Account: n, Locked: true, At: at, Node: "n1", By: n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ls, err := a.SessionLockStates(ctx, []string{"alice", "bob"}); err != nil || len(ls) != 1 || ls[0].Account != "bob" {
		t.Fatalf("after deleting alice: %+v %v, want bob's only", ls, err)
	}
	withAccounts(t, a, "alice")
	if l, err := a.SetSessionLock(ctx, store.SessionLock{Account: "alice", Locked: true, At: at.Add(time.Hour)}); err != nil || l.Version != 1 {
		t.Fatalf("the new alice's first lock: %+v %v, want version 1", l, err)
	}
}
