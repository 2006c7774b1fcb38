package limit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The faillock decision as a table of scenarios: each step begins a try (and checks the verdict)
// and ends it with an outcome, on an injected clock.
func TestFaillockScenarios(t *testing.T) {
	type step struct {
		at   int // seconds from t0
		want Verdict
		end  Outcome // when want is Allowed
	}
	bastion := Default // deny=6 unlock_time=300 fail_interval=900
	fails := func(from, n, every int) []step {
		var out []step
		for i := 0; i < n; i++ {
			out = append(out, step{at: from + i*every, want: Allowed, end: Failed})
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		lim   Limits
		steps []step
	}{
		{"five failures do not lock", bastion, cat(fails(0, 5, 1), []step{{10, Allowed, Succeeded}})},
		{"the sixth failure locks for 300 s after it", bastion, cat(fails(0, 6, 1), []step{{6, Locked, 0}, {304, Locked, 0}, {306, Allowed, Succeeded}})},
		{"after the lock, a fresh count", bastion, cat(fails(0, 6, 1), fails(400, 5, 1), []step{{410, Allowed, Succeeded}})},
		{"abandoned prompts are not failures", bastion, cat(fails(0, 5, 1), []step{{10, Allowed, Abandoned}, {11, Allowed, Abandoned}, {12, Allowed, Abandoned}, {13, Allowed, Succeeded}})},
		{"two wrong passwords and an abandoned prompt: still allowed", bastion, []step{{0, Allowed, Failed}, {1, Allowed, Failed}, {2, Allowed, Abandoned}, {3, Allowed, Succeeded}}},
		{"a success resets the count", bastion, cat(fails(0, 5, 1), []step{{6, Allowed, Succeeded}}, fails(7, 5, 1), []step{{20, Allowed, Succeeded}})},
		{"failures older than fail_interval stop counting", bastion, cat(fails(0, 5, 1), fails(1000, 1, 1), []step{{1001, Allowed, Succeeded}})},
		{"six failures spread within 900 s lock", bastion, cat(fails(0, 6, 170), []step{{851, Locked, 0}})},
		{"six failures spread over more than 900 s do not", bastion, cat(fails(0, 6, 200), []step{{1001, Allowed, Succeeded}})},
		{"unlock_time 0: locked until accountUnlock", Limits{LockAfter: 3, FailInterval: 900 * time.Second}, cat(fails(0, 3, 1), []step{{86400 * 30, Locked, 0}})},
		{"deny 0 never locks", Limits{FailInterval: time.Minute}, cat(fails(0, 50, 1), []step{{51, Allowed, Succeeded}})},
		{"optional rate limit counts tries as they begin", Limits{Attempts: 2, Window: 30 * time.Second}, []step{{0, Allowed, Failed}, {1, Allowed, Abandoned}, {2, Allowed, Failed}, {3, RateLimited, 0}, {30, Allowed, Succeeded}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Unix(1_700_000_000, 0)
			var s State
			for i, st := range tc.steps {
				now := t0.Add(time.Duration(st.at) * time.Second)
				var d Decision
				s, d = tc.lim.Decide(s, now)
				if d.Verdict != st.want {
					t.Fatalf("step %d (t+%ds): %v, want %v (state %+v)", i, st.at, d.Verdict, st.want, s)
				}
				if d.Verdict == Locked && tc.lim.UnlockTime > 0 && !d.Until.After(now) {
					t.Fatalf("step %d: locked until %v, not after now", i, d.Until)
				}
				if d.Verdict == Allowed {
					s = tc.lim.Finish(s, now, now, st.end)
				}
			}
		})
	}
}

// Decide over every combination of failures counted, tries pending and lock age.
func TestFaillockDecideTable(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	l := Limits{LockAfter: 6, FailInterval: 900 * time.Second, UnlockTime: 300 * time.Second}
	for fails := 0; fails <= 7; fails++ {
		for pending := 0; pending <= 7; pending++ {
			for _, lockAge := range []int{-1, 0, 299, 300, 5000} { // -1: not locked
				for _, unlock := range []time.Duration{0, 300 * time.Second} {
					l.UnlockTime = unlock
					s := State{}
					for i := 0; i < fails; i++ {
						s.Fails = append(s.Fails, t0.Add(-time.Duration(i)*time.Second))
					}
					for i := 0; i < pending; i++ {
						s.Pending = append(s.Pending, t0.Add(-time.Duration(i)*time.Second))
					}
					if lockAge >= 0 {
						s.Locked, s.LockedAt = true, t0.Add(-time.Duration(lockAge)*time.Second)
					}
					var want Verdict
					switch {
					case lockAge >= 0 && (unlock == 0 || time.Duration(lockAge)*time.Second < unlock):
						want = Locked
					case lockAge >= 0: // expired: failures forgotten, pending still counted
						if pending >= 6 {
							want = RateLimited
						}
					case fails+pending >= 6:
						want = RateLimited
					}
					got, d := l.Decide(s, t0)
					if d.Verdict != want {
						t.Fatalf("fails=%d pending=%d lockAge=%d unlock=%v: %v, want %v", fails, pending, lockAge, unlock, d.Verdict, want)
					}
					if want == Allowed && len(got.Pending) != min(pending, 6)+1 && lockAge < 0 {
						t.Fatalf("allowed try not pending: %+v", got)
					}
				}
			}
		}
	}
	// A clock set back far keeps neither failures nor pending tries forever.
	s := State{Fails: []time.Time{t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour), t0.Add(time.Hour)}}
	if _, d := Default.Decide(s, t0); d.Verdict != Allowed {
		t.Fatalf("failures an hour in the future still counted: %v", d.Verdict)
	}
	// A lock set in the future (clock set back) lasts UnlockTime from now, not from then.
	s = State{Locked: true, LockedAt: t0.Add(24 * time.Hour), Failures: 6}
	if _, d := Default.Decide(s, t0); d.Verdict != Locked || !d.Until.Equal(t0.Add(Default.UnlockTime)) {
		t.Fatalf("future lock: %+v", d)
	}
}

func TestLockedErrorMessage(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	e := &LockedError{Failures: 6, Until: now.Add(299 * time.Second), Now: now}
	if got := e.Error(); got != "locked after 6 failed authentication attempts, try again in 4m59s (at 10:04:59 UTC)" {
		t.Fatalf("message: %q", got)
	}
	if !errors.Is(e, ErrLocked) {
		t.Fatal("not ErrLocked")
	}
	if got := (&LockedError{Failures: 3}).Error(); !strings.Contains(got, "accountUnlock") {
		t.Fatalf("permanent lock message: %q", got)
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
	// Pending tries count as failures: no more parallel guesses than deny.
	if allowed.Load() != int32(Default.LockAfter) {
		t.Fatalf("%d of 10 concurrent tries allowed, want %d", allowed.Load(), Default.LockAfter)
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

// ctxStore fails like a SQL store does on a cancelled context.
type ctxStore struct{ MemStore }

func (c *ctxStore) Update(ctx context.Context, account, factor string, fn func(*State) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.MemStore.Update(ctx, account, factor, fn)
}

// An abandoned prompt ends with the session's context cancelled: its try is still given back.
func TestAbandonAfterTheSessionEnded(t *testing.T) {
	st := &ctxStore{}
	lim := &Limiter{Store: st, Limits: Default}
	ctx, cancel := context.WithCancel(context.Background())
	tr, err := lim.Begin(ctx, "a", "password", nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := tr.Abandon(ctx); err != nil {
		t.Fatalf("abandon after cancel: %v", err)
	}
	_ = st.Update(context.Background(), "a", "password", func(s *State) error {
		if len(s.Pending) != 0 {
			t.Fatalf("still pending: %+v", s)
		}
		return nil
	})
}

// TestPendingTriesExpire: tries whose outcome never came (their node was killed mid-prompt)
// hold the account's places until PendingTTL, then stop counting.
func TestPendingTriesExpire(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var s State
	for range Default.LockAfter {
		var v Verdict
		if s, v = Default.Begin(s, t0); v != Allowed {
			t.Fatalf("try %d: %v", len(s.Pending), v)
		}
	}
	for _, tc := range []struct {
		after time.Duration
		want  Verdict
	}{
		{time.Minute, RateLimited},
		{PendingTTL - time.Second, RateLimited},
		{PendingTTL, Allowed},
		{PendingTTL + time.Hour, Allowed},
	} {
		if _, v := Default.Begin(s, t0.Add(tc.after)); v != tc.want {
			t.Errorf("%d pending tries, %v later: %v, want %v", Default.LockAfter, tc.after, v, tc.want)
		}
	}
}
