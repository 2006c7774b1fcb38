package limit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitsPure(t *testing.T) {
	l := Limits{Attempts: 3, Window: 30 * time.Second, LockAfter: 4}
	t0 := time.Unix(1_700_000_000, 0)
	var s State
	var v Verdict
	for i := 0; i < 3; i++ {
		if s, v = l.Begin(s, t0.Add(time.Duration(i)*time.Second)); v != Allowed {
			t.Fatalf("try %d: %v", i, v)
		}
		s = l.Finish(s, t0.Add(time.Duration(i)*time.Second), false)
	}
	if _, v = l.Begin(s, t0.Add(5*time.Second)); v != RateLimited {
		t.Fatalf("4th try inside the window: %v, want RateLimited", v)
	}
	// The first try leaves the window 30 s after it began.
	if s, v = l.Begin(s, t0.Add(30*time.Second)); v != Allowed {
		t.Fatalf("after the window: %v", v)
	}
	s = l.Finish(s, t0.Add(30*time.Second), false) // 4th consecutive failure
	if !s.Locked {
		t.Fatal("not locked after LockAfter failures")
	}
	if _, v = l.Begin(s, t0.Add(time.Hour)); v != Locked {
		t.Fatalf("locked state, an hour later: %v", v)
	}

	// A success gives its try back and resets the failure count.
	s = State{}
	s, _ = l.Begin(s, t0)
	s = l.Finish(s, t0, false)
	s, _ = l.Begin(s, t0.Add(time.Second))
	s = l.Finish(s, t0.Add(time.Second), true)
	if len(s.Tries) != 1 || s.Failures != 0 {
		t.Fatalf("after a success: %+v", s)
	}

	// A clock set back far does not keep old tries forever.
	s = State{Tries: []time.Time{t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour)}}
	if _, v = l.Begin(s, t0); v != Allowed {
		t.Fatalf("tries an hour in the future still counted: %v", v)
	}

	if _, v = (Limits{}).Begin(State{Tries: make([]time.Time, 100)}, t0); v != Allowed {
		t.Fatal("zero Limits should not rate limit")
	}
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	lim := &Limiter{Store: &MemStore{}, Limits: Limits{Attempts: 3, Window: 30 * time.Second, LockAfter: 5}, Now: func() time.Time { return now }}
	fail := func() error {
		tr, err := lim.Begin(ctx, "alice", "totp", nil)
		if err != nil {
			return err
		}
		return tr.Done(ctx, false)
	}
	for i := 0; i < 3; i++ {
		if err := fail(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fail(); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("4th try: %v", err)
	}
	if _, err := lim.Begin(ctx, "alice", "password", nil); err != nil {
		t.Fatalf("another factor has its own budget: %v", err)
	}
	if _, err := lim.Begin(ctx, "bob", "totp", nil); err != nil {
		t.Fatalf("another account has its own budget: %v", err)
	}
	now = now.Add(31 * time.Second)
	for i := 0; i < 2; i++ {
		if err := fail(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fail(); !errors.Is(err, ErrLocked) {
		t.Fatalf("after 5 failures: %v, want ErrLocked", err)
	}
	now = now.Add(24 * time.Hour)
	if err := fail(); !errors.Is(err, ErrLocked) {
		t.Fatalf("a day later: %v, want still ErrLocked", err)
	}
	if err := lim.Unlock(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := fail(); err != nil {
		t.Fatalf("after accountUnlock: %v", err)
	}
	// Per-call override (an imported RATE_LIMIT 1 60).
	if _, err := lim.Begin(ctx, "carol", "totp", &Limits{Attempts: 1, Window: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := lim.Begin(ctx, "carol", "totp", &Limits{Attempts: 1, Window: time.Minute}); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("override not applied: %v", err)
	}
}

func TestLimiterConcurrentTries(t *testing.T) {
	lim := &Limiter{Store: &MemStore{}, Limits: Default}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 10; i++ { // 10 tries in the same second
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := lim.Begin(context.Background(), "alice", "totp", nil); err == nil {
				allowed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 3 {
		t.Fatalf("%d of 10 concurrent tries allowed, want 3", allowed.Load())
	}
}

type brokenStore struct{}

func (brokenStore) Update(context.Context, string, string, func(*State) error) error {
	return errors.New("db down")
}
func (brokenStore) Reset(context.Context, string) error { return errors.New("db down") }

func TestLimiterFailsClosed(t *testing.T) {
	if _, err := (&Limiter{Store: brokenStore{}}).Begin(context.Background(), "a", "totp", nil); err == nil {
		t.Fatal("try allowed although the store failed")
	}
	if _, err := (&Limiter{}).Begin(context.Background(), "a", "totp", nil); err == nil {
		t.Fatal("try allowed without a store")
	}
}
