// Package limit throttles second-factor attempts: at most N tries per sliding window for each
// account and factor, and a lockout after M consecutive failures that only an admin clears
// (accountUnlock).
//
// The decision is pure (Limits.Begin, Limits.Finish over a State, with the clock passed in); the
// state lives behind Store, whose Update must be atomic so that concurrent logins cannot both take
// the last try. A try is counted when it begins, before the code is even asked, so ten parallel
// connections get no more guesses than one; a try that succeeds is given back.
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
	Attempts  int           // tries (failed or in flight) allowed per Window; ≤ 0 means no rate limit
	Window    time.Duration // sliding window
	LockAfter int           // consecutive failures that lock the factor until Reset; ≤ 0 never locks
}

// Default is google-authenticator's RATE_LIMIT 3 30 and a lockout after 10 consecutive failures.
var Default = Limits{Attempts: 3, Window: 30 * time.Second, LockAfter: 10}

// State is the throttling state of one account and factor.
type State struct {
	Tries    []time.Time // starts of tries counted in the window, oldest first
	Failures int         // consecutive failures since the last success or Reset
	Locked   bool
}

// Verdict is the outcome of Begin.
type Verdict int

const (
	Allowed Verdict = iota
	RateLimited
	Locked
)

// Begin decides whether a try may start at now, and returns the new state (with the try counted
// when allowed).
func (l Limits) Begin(s State, now time.Time) (State, Verdict) {
	if s.Locked {
		return s, Locked
	}
	if l.Attempts <= 0 {
		return s, Allowed
	}
	keep := s.Tries[:0:0]
	for _, t := range s.Tries {
		// Keep tries younger than the window; drop ones far in the future (the clock was set
		// back) so that a clock change cannot block an account for hours.
		if now.Sub(t) < l.Window && !t.After(now.Add(l.Window)) {
			keep = append(keep, t)
		}
	}
	s.Tries = keep
	if len(s.Tries) >= l.Attempts {
		return s, RateLimited
	}
	s.Tries = append(s.Tries, now)
	return s, Allowed
}

// Finish records the outcome of the try begun at started.
func (l Limits) Finish(s State, started time.Time, ok bool) State {
	if ok {
		s.Failures = 0
		for i, t := range s.Tries {
			if t.Equal(started) {
				s.Tries = append(s.Tries[:i:i], s.Tries[i+1:]...)
				break
			}
		}
		return s
	}
	s.Failures++
	if l.LockAfter > 0 && s.Failures >= l.LockAfter {
		s.Locked = true
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

// ErrRateLimited refuses a try because too many were made recently.
var ErrRateLimited = errors.New("too many authentication attempts, wait a little and try again")

// ErrLocked refuses a try because the factor is locked after repeated failures.
var ErrLocked = errors.New("locked after too many failed authentication attempts, ask an administrator to run accountUnlock")

// Limiter applies Limits through a Store.
type Limiter struct {
	Store  Store            // required
	Limits Limits           // used when Begin gets nil
	Now    func() time.Time // nil means time.Now
	// Source, when not "", is the address of a client that verified no key: its tries are
	// throttled per source too (Sources, SourceLimits), and its failures count toward the
	// account's lockout only up to SourceLimits.LockCap.
	Source       string
	Sources      *Sources
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
// uses none of the account's tries.
func (l *Limiter) beginSource(now time.Time) error {
	if l.Source == "" {
		return nil
	}
	if l.Sources == nil {
		return errors.New("limit: a source without a source table") // fail closed
	}
	verdict := RateLimited
	if !l.Sources.update(l.Source, now, func(s *SourceState) { *s, verdict = l.SourceLimits.Begin(*s, now) }) {
		return ErrRateLimited
	}
	if verdict != Allowed {
		return ErrRateLimited
	}
	return nil
}

// finishSource records the outcome for the source and says whether a failure counts toward
// the account's lockout.
func (t *Try) finishSource(ok bool) bool {
	l := t.l
	if l.Source == "" || l.Sources == nil {
		return true
	}
	counts := false
	if !l.Sources.update(l.Source, t.started, func(s *SourceState) { *s, counts = l.SourceLimits.Finish(*s, t.account, t.started, ok) }) {
		return false
	}
	return counts
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
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	if err := l.beginSource(now); err != nil {
		return nil, err
	}
	var verdict Verdict
	err := l.Store.Update(ctx, account, factor, func(s *State) error {
		*s, verdict = use.Begin(*s, now)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("limit: recording try of %s/%s: %w", account, factor, err)
	}
	switch verdict {
	case RateLimited:
		return nil, ErrRateLimited
	case Locked:
		return nil, ErrLocked
	}
	return &Try{l: l, lim: use, account: account, factor: factor, started: now}, nil
}

// Done records the outcome of the try. A failure from a source past its LockCap against this
// account leaves the account's failure count as it is (the try itself stays counted).
func (t *Try) Done(ctx context.Context, ok bool) error {
	if !t.finishSource(ok) && !ok {
		return nil
	}
	return t.l.Store.Update(ctx, t.account, t.factor, func(s *State) error {
		*s = t.lim.Finish(*s, t.started, ok)
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
