package limit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSourceLimitsPure(t *testing.T) {
	l := SourceLimits{Attempts: 3, Window: time.Minute, LockCap: 2}
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name    string
		s       SourceState
		account string
		ok      bool
		counts  bool
		after   int // Counted[account] after
	}{
		{"first failure counts", SourceState{}, "bob", false, true, 1},
		{"second failure counts", SourceState{Counted: map[string]int{"bob": 1}}, "bob", false, true, 2},
		{"past the cap: throttled, not counted", SourceState{Counted: map[string]int{"bob": 2}}, "bob", false, false, 2},
		{"the cap is per account", SourceState{Counted: map[string]int{"bob": 2}}, "carol", false, true, 1},
		{"a success clears the source's count", SourceState{Counted: map[string]int{"bob": 2}}, "bob", true, true, 0},
		{"cap 0 counts nothing", SourceState{}, "bob", false, false, 0},
	} {
		lim := l
		if tc.name == "cap 0 counts nothing" {
			lim.LockCap = 0
		}
		before := tc.s.Counted["bob"]
		s, counts := lim.Finish(tc.s, tc.account, t0, tc.ok)
		if counts != tc.counts || s.Counted[tc.account] != tc.after {
			t.Errorf("%s: Finish = counts %v, counted %d; want %v, %d", tc.name, counts, s.Counted[tc.account], tc.counts, tc.after)
		}
		if tc.s.Counted != nil && tc.s.Counted["bob"] != before {
			t.Errorf("%s: Finish changed its input", tc.name)
		}
	}
	var s SourceState
	var v Verdict
	for i := 0; i < 3; i++ {
		if s, v = l.Begin(s, t0.Add(time.Duration(i)*time.Second)); v != Allowed {
			t.Fatalf("try %d: %v", i, v)
		}
	}
	if _, v = l.Begin(s, t0.Add(10*time.Second)); v != RateLimited {
		t.Fatalf("4th try in the window: %v", v)
	}
	if _, v = l.Begin(s, t0.Add(time.Minute)); v != Allowed {
		t.Fatalf("after the window: %v", v)
	}
}

// TestStrangerCannotLockAccount: keyless failures from one source throttle that source and
// never reach the account's lockout; failures after a verified key still lock.
func TestStrangerCannotLockAccount(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	store := &MemStore{}
	sources := &Sources{}
	acct := Limits{Attempts: 3, Window: 30 * time.Second, LockAfter: 10}
	src := SourceLimits{Attempts: 3, Window: time.Minute, LockCap: 3}
	stranger := &Limiter{Store: store, Limits: acct, Now: clock, Source: "192.0.2.9", Sources: sources, SourceLimits: src}
	throttled := 0
	for i := 0; i < 200; i++ {
		now = now.Add(10 * time.Second)
		try, err := stranger.Begin(context.Background(), "bob", "password", nil)
		if errors.Is(err, ErrRateLimited) {
			throttled++
			continue
		}
		if err != nil {
			t.Fatalf("guess %d: %v", i, err)
		}
		if err := try.Done(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	if throttled == 0 {
		t.Fatal("the stranger's source was never throttled")
	}
	// The person, with a key (no source limits), still gets a try.
	person := &Limiter{Store: store, Limits: acct, Now: clock}
	now = now.Add(time.Minute)
	try, err := person.Begin(context.Background(), "bob", "password", nil)
	if err != nil {
		t.Fatalf("bob locked out by one stranger: %v", err)
	}
	_ = try.Done(context.Background(), true)
	// A key holder's own failures still lock.
	for i := 0; i < 10; i++ {
		now = now.Add(time.Minute)
		try, err := person.Begin(context.Background(), "bob", "password", nil)
		if err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
		_ = try.Done(context.Background(), false)
	}
	if _, err := person.Begin(context.Background(), "bob", "password", nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("after 10 failures with a key: %v, want locked", err)
	}
	// A full source table refuses new sources (fail closed).
	full := &Sources{Max: 1}
	a := &Limiter{Store: &MemStore{}, Limits: acct, Now: clock, Source: "192.0.2.1", Sources: full, SourceLimits: src}
	b := &Limiter{Store: &MemStore{}, Limits: acct, Now: clock, Source: "192.0.2.2", Sources: full, SourceLimits: src}
	if _, err := a.Begin(context.Background(), "x", "password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Begin(context.Background(), "x", "password", nil); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("new source in a full table: %v", err)
	}
	// A source without a table fails closed.
	c := &Limiter{Store: &MemStore{}, Limits: acct, Now: clock, Source: "192.0.2.3"}
	if _, err := c.Begin(context.Background(), "x", "password", nil); err == nil {
		t.Fatal("a source without a table was allowed")
	}
}

// TestSourceCounts: whether a keyless failure counts toward the account's lockout, for each
// answer of the source table.
func TestSourceCounts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		finished bool
		want     bool
	}{
		{"recorded, under the cap", nil, true, true},
		{"recorded, past the cap", nil, false, false},
		// Its row evicted by a flood while the try ran: the try was admitted, the failure counts.
		{"table full", ErrSourcesFull, false, true},
		{"table full (wrapped)", fmt.Errorf("x: %w", ErrSourcesFull), true, true},
		{"store failed", errors.New("connection refused"), false, true},
		{"store failed, fn ran", errors.New("commit failed"), true, true},
	} {
		if got := SourceCounts(tc.err, tc.finished); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// failingSources is a source table whose store does not answer.
type failingSources struct{}

func (failingSources) UpdateSource(context.Context, string, time.Time, func(*SourceState)) error {
	return errors.New("store down")
}

// A source table that does not answer refuses the try (fail closed), with an error that is not
// a throttle (the user is told the bastion cannot check).
func TestSourceStoreDownRefuses(t *testing.T) {
	l := &Limiter{Store: &MemStore{}, Limits: Default, Source: "192.0.2.4", Sources: failingSources{}, SourceLimits: SourceLimits{Attempts: 3, Window: time.Minute, LockCap: 3}}
	if _, err := l.Begin(context.Background(), "bob", "password", nil); err == nil || errors.Is(err, ErrRateLimited) {
		t.Fatalf("store down: %v, want a store error", err)
	}
}
