// Package limit throttles second-factor attempts as The Bastion's PAM stack does with
// pam_faillock (preauth/authfail deny=6 unlock_time=300, fail_interval 900 s): LockAfter failures
// within FailInterval lock the factor for UnlockTime after the last of them (0: until an admin runs
// accountUnlock), and a success clears the count. An answer is needed to fail: a prompt left
// unanswered or abandoned counts nothing. An optional sliding-window rate limit (Attempts per
// Window, off by default; an imported google-authenticator RATE_LIMIT sets it per account) counts
// tries as they begin.
//
// The decision is pure (Limits.Begin, Limits.Finish over a State, with the clock passed in); the
// state lives behind Store, whose Update must be atomic so that concurrent logins cannot both take
// the last try. A try is pending from its start until its outcome, and pending tries count
// against LockAfter like failures, so ten parallel connections get no more guesses than one; a
// pending try whose outcome never comes (the process died) stops counting after PendingTTL.
//
// Every error fails closed: a store error refuses the try.
package limit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits are the throttling parameters.
type Limits struct {
	Attempts int           // tries begun per Window; ≤ 0 means no rate limit
	Window   time.Duration // sliding window of Attempts
	// LockAfter failures within FailInterval lock the factor (pam_faillock's deny); ≤ 0 never locks.
	LockAfter int
	// FailInterval is how long a failure counts (fail_interval); ≤ 0: until a success or Reset.
	FailInterval time.Duration
	// UnlockTime is how long a lock lasts after the failure that set it (unlock_time); ≤ 0: until
	// an admin runs accountUnlock.
	UnlockTime time.Duration
}

// Default is The Bastion's pam_faillock: deny=6, unlock_time=300, and pam_faillock's
// fail_interval of 900 s; no rate limit.
var Default = Limits{LockAfter: 6, FailInterval: 900 * time.Second, UnlockTime: 300 * time.Second}

// PendingTTL bounds how long a try without an outcome counts (a prompt answers or times out
// well before).
const PendingTTL = 10 * time.Minute

// State is the throttling state of one account and factor.
type State struct {
	Tries    []time.Time // starts of tries counted in the rate limit window, oldest first
	Pending  []time.Time // starts of tries without an outcome yet
	Fails    []time.Time // failures that still count (within FailInterval), oldest first
	Failures int         // consecutive failures since the last success or Reset (for display)
	Locked   bool
	LockedAt time.Time // when the lock was set; zero with Locked: until Reset
}

// Verdict is the outcome of Begin.
type Verdict int

const (
	Allowed Verdict = iota
	RateLimited
	Locked
)

// Outcome is how a try ended.
type Outcome int

const (
	Failed    Outcome = iota // a wrong answer
	Succeeded                // a right answer
	Abandoned                // no answer: the prompt was left, timed out, or the connection went
)

// Decision is Begin's verdict with what the user is told: until when a lock lasts (zero: until
// accountUnlock) and how many failures set it.
type Decision struct {
	Verdict  Verdict
	Until    time.Time
	Failures int
}

// keep returns the times of ts younger than d at now (d ≤ 0: all), dropping ones far in the
// future (the clock was set back) so that a clock change cannot block an account for hours.
func keep(ts []time.Time, now time.Time, d time.Duration) []time.Time {
	out := ts[:0:0]
	for _, t := range ts {
		if (d <= 0 || now.Sub(t) < d) && !t.After(now.Add(max(d, time.Minute))) {
			out = append(out, t)
		}
	}
	return out
}

// Begin decides whether a try may start at now, and returns the new state (with the try counted
// as pending, and in the rate limit window, when allowed).
func (l Limits) Begin(s State, now time.Time) (State, Verdict) {
	s, d := l.Decide(s, now)
	return s, d.Verdict
}

// Decide is Begin with the lock's end, for the message.
func (l Limits) Decide(s State, now time.Time) (State, Decision) {
	if s.Locked {
		until := time.Time{}
		if !s.LockedAt.IsZero() && l.UnlockTime > 0 {
			until = s.LockedAt.Add(l.UnlockTime)
		}
		// A lock set in the future (the clock was set back) is treated as set now.
		if until.IsZero() || now.Before(until) || s.LockedAt.After(now.Add(time.Minute)) {
			if s.LockedAt.After(now.Add(time.Minute)) && l.UnlockTime > 0 {
				until = now.Add(l.UnlockTime)
			}
			return s, Decision{Verdict: Locked, Until: until, Failures: s.Failures}
		}
		// The lock has run out: a fresh start, as pam_faillock after unlock_time.
		s.Locked, s.LockedAt, s.Fails, s.Failures = false, time.Time{}, nil, 0
	}
	s.Pending = keep(s.Pending, now, PendingTTL)
	s.Fails = keep(s.Fails, now, l.FailInterval)
	if l.LockAfter > 0 && len(s.Fails)+len(s.Pending) >= l.LockAfter {
		return s, Decision{Verdict: RateLimited} // the last tries are still being answered elsewhere
	}
	if l.Attempts > 0 {
		s.Tries = keep(s.Tries, now, l.Window)
		if len(s.Tries) >= l.Attempts {
			return s, Decision{Verdict: RateLimited}
		}
		s.Tries = append(s.Tries, now)
	} else {
		s.Tries = nil
	}
	s.Pending = append(s.Pending, now)
	return s, Decision{Verdict: Allowed}
}

func remove(ts []time.Time, t time.Time) []time.Time {
	for i, x := range ts {
		if x.Equal(t) {
			return append(ts[:i:i], ts[i+1:]...)
		}
	}
	return ts
}

// Finish records at now the outcome of the try begun at started.
func (l Limits) Finish(s State, started, now time.Time, o Outcome) State {
	s.Pending = remove(s.Pending, started)
	switch o {
	case Succeeded:
		s.Failures, s.Fails = 0, nil
		s.Tries = remove(s.Tries, started) // a success gives its try back
	case Abandoned:
		s.Tries = remove(s.Tries, started) // no answer, no guess
	case Failed:
		s.Failures++
		s.Fails = append(keep(s.Fails, now, l.FailInterval), now)
		if l.LockAfter > 0 && len(s.Fails) >= l.LockAfter && !s.Locked {
			s.Locked, s.LockedAt = true, now
		}
	}
	return s
}

// Store keeps State per account and factor.
//
// Update must load the state (zero State when absent), call fn, and store what fn left, all
// atomically: under a mutex, or in SQL inside one transaction (BEGIN IMMEDIATE on SQLite,
// SELECT … FOR UPDATE on PostgreSQL). fn is pure and fast. If fn returns an error nothing is stored.
// Reset deletes every state of account (accountUnlock).
type Store interface {
	Update(ctx context.Context, account, factor string, fn func(*State) error) error
	Reset(ctx context.Context, account string) error
}

// MemStore is an in-memory Store.
type MemStore struct {
	mu sync.Mutex
	m  map[[2]string]State
}

// Update implements Store.
func (m *MemStore) Update(_ context.Context, account, factor string, fn func(*State) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[[2]string]State)
	}
	k := [2]string{account, factor}
	s := m.m[k]
	s.Tries = append([]time.Time(nil), s.Tries...)
	s.Pending = append([]time.Time(nil), s.Pending...)
	s.Fails = append([]time.Time(nil), s.Fails...)
	if err := fn(&s); err != nil {
		return err
	}
	m.m[k] = s
	return nil
}

// Reset implements Store.
func (m *MemStore) Reset(_ context.Context, account string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.m {
		if k[0] == account {
			delete(m.m, k)
		}
	}
	return nil
}

// ErrRateLimited refuses a try because too many were made recently, or are still being answered.
var ErrRateLimited = errors.New("too many authentication attempts, wait a little and try again")

// ErrLocked refuses a try because the factor is locked after repeated failures; the error
// returned is a *LockedError, which says for how long.
var ErrLocked = errors.New("locked after too many failed authentication attempts")

// LockedError is a refusal while locked: its message is the reason the user reads.
type LockedError struct {
	Failures int
	Until    time.Time // zero: until an admin runs accountUnlock
	Now      time.Time
}

func (e *LockedError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("locked after %d failed authentication attempts, ask an administrator to run accountUnlock", e.Failures)
	}
	left := e.Until.Sub(e.Now).Round(time.Second)
	if left < time.Second {
		left = time.Second
	}
	return fmt.Sprintf("locked after %d failed authentication attempts, try again in %s (at %s)",
		e.Failures, left, e.Until.UTC().Format("15:04:05 UTC"))
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Limiter applies Limits through a Store.
type Limiter struct {
	Store  Store            // required
	Limits Limits           // used when Begin gets nil
	Now    func() time.Time // nil means time.Now
	// Source, when not "", is the address of a client that verified no key: its tries are
	// throttled per source too (Sources, SourceLimits), and its failures count toward the
	// account's lockout only up to SourceLimits.LockCap.
	Source       string
	Sources      SourceStore
	SourceLimits SourceLimits
}

// Try is a try in progress; call Done exactly once with its outcome.
type Try struct {
	l               *Limiter
	lim             Limits
	account, factor string
	started         time.Time
}

// beginSource counts a try of the source, before the account's limits: a throttled source
// uses none of the account's tries. A store that cannot count it refuses the try.
func (l *Limiter) beginSource(ctx context.Context, now time.Time) error {
	if l.Source == "" {
		return nil
	}
	if l.Sources == nil {
		return errors.New("limit: a source without a source table") // fail closed
	}
	verdict := RateLimited
	err := l.Sources.UpdateSource(ctx, l.Source, now, func(s *SourceState) { *s, verdict = l.SourceLimits.Begin(*s, now) })
	if errors.Is(err, ErrSourcesFull) {
		return ErrRateLimited
	}
	if err != nil {
		return fmt.Errorf("limit: recording try of source %s: %w", l.Source, err)
	}
	if verdict != Allowed {
		return ErrRateLimited
	}
	return nil
}

// finishSource records the outcome for the source and says whether a failure counts toward
// the account's lockout (SourceCounts).
func (t *Try) finishSource(ctx context.Context, ok bool) bool {
	l := t.l
	if l.Source == "" || l.Sources == nil {
		return true
	}
	counts := false
	err := l.Sources.UpdateSource(ctx, l.Source, t.started, func(s *SourceState) { *s, counts = l.SourceLimits.Finish(*s, t.account, t.started, ok) })
	return SourceCounts(err, counts)
}

// SourceCounts says whether a keyless failure counts toward the account's lockout, from what
// the source table answered: what SourceLimits.Finish decided when it was recorded; otherwise it
// counts. A full table at the finish means the source's row was evicted while its try ran (a
// flood of new sources pushing it out): the try was admitted when it began (a source refused
// then never gets to answer), so its failure counts — else a flood would keep every failure off
// the lockout. A table that could not be reached (the store failed) counts too: the account's
// lockout is the last guard against guessing. Pure, tested as a table.
func SourceCounts(err error, finished bool) bool {
	if err == nil {
		return finished
	}
	return true
}

// Begin starts a try for account's factor, or refuses it with ErrRateLimited, ErrLocked or a
// store error. lim overrides the Limiter's Limits (e.g. an imported RATE_LIMIT) when not nil.
func (l *Limiter) Begin(ctx context.Context, account, factor string, lim *Limits) (*Try, error) {
	if l == nil || l.Store == nil {
		return nil, errors.New("limit: no store configured")
	}
	use := l.Limits
	if lim != nil {
		use = *lim
	}
	now := l.now()
	if err := l.beginSource(ctx, now); err != nil {
		return nil, err
	}
	var d Decision
	err := l.Store.Update(ctx, account, factor, func(s *State) error {
		*s, d = use.Decide(*s, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("limit: recording try of %s/%s: %w", account, factor, err)
	}
	switch d.Verdict {
	case RateLimited:
		return nil, ErrRateLimited
	case Locked:
		return nil, &LockedError{Failures: d.Failures, Until: d.Until, Now: now}
	}
	return &Try{l: l, lim: use, account: account, factor: factor, started: now}, nil
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Done records the outcome of the try. A failure from a source past its LockCap against this
// account leaves the account's failures as they are (the try is no longer pending).
func (t *Try) Done(ctx context.Context, ok bool) error {
	// Recorded even when the session has just ended (see finish).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	o := Failed
	if ok {
		o = Succeeded
	}
	if !t.finishSource(ctx, ok) && !ok {
		o = Abandoned
	}
	return t.finish(ctx, o)
}

// Abandon records a try that got no answer: it counts as nothing, neither a failure nor a
// success (as pam_faillock, which counts only an authentication that failed).
func (t *Try) Abandon(ctx context.Context) error {
	return t.finish(ctx, Abandoned)
}

func (t *Try) finish(ctx context.Context, o Outcome) error {
	now := t.l.now()
	// The outcome is recorded even when the session has just ended (an abandoned prompt ends
	// with its context cancelled): a try left pending would hold a place until PendingTTL.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return t.l.Store.Update(ctx, t.account, t.factor, func(s *State) error {
		*s = t.lim.Finish(*s, t.started, now, o)
		return nil
	})
}

// Unlock clears account's counters and lockouts (accountUnlock).
func (l *Limiter) Unlock(ctx context.Context, account string) error {
	if err := l.Store.Reset(ctx, account); err != nil {
		return fmt.Errorf("limit: unlocking %s: %w", account, err)
	}
	return nil
}
