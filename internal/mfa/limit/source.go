package limit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// SourceLimits throttle the tries made without a verified key (accounts with
// --pubkey-auth-optional, and the decoy every other name gets), per source address, so that a
// stranger cannot lock a person out:
//
//   - A source may begin Attempts tries per Window, whatever the accounts. A throttled source
//     is refused before the account's own limits are consulted, so it uses none of the
//     account's tries.
//   - A failure from a source counts toward the account's lockout (Limits.LockAfter) only for
//     the source's first LockCap failures against that account; later ones are still
//     throttled but lock nothing. With LockCap below LockAfter, no single source can lock an
//     account: it takes ⌈LockAfter/LockCap⌉ sources (the price of having a lockout at all).
//     Failures after a verified key always count in full: the key holder is the person.
//   - A success from the source clears what it counted against that account.
//
// The decisions are pure (Begin, Finish); a SourceStore keeps the state: Sources in memory, or
// the shared store (internal/mfaauth) so that the nodes of a cluster throttle a source together.
type SourceLimits struct {
	Attempts int           // tries per Window from one source; ≤ 0 means no per-source rate limit
	Window   time.Duration // sliding window
	LockCap  int           // failures from one source counted toward an account's lockout; ≤ 0 counts none
}

// SourceState is the throttling state of one source address.
type SourceState struct {
	Tries   []time.Time    // starts of tries counted in the window, oldest first
	Counted map[string]int // account → failures from this source counted toward its lockout
	Seen    time.Time      // the last try, to forget idle sources
}

// Begin decides whether a try from the source may start at now, and counts it when allowed.
func (l SourceLimits) Begin(s SourceState, now time.Time) (SourceState, Verdict) {
	st, v := Limits{Attempts: l.Attempts, Window: l.Window}.Begin(State{Tries: s.Tries}, now)
	s.Tries = st.Tries
	if v == Allowed {
		s.Seen = now
	}
	return s, v
}

// Finish records the outcome of the try begun at started against account, and says whether a
// failure counts toward the account's lockout.
func (l SourceLimits) Finish(s SourceState, account string, started time.Time, ok bool) (SourceState, bool) {
	if ok {
		st := Limits{Attempts: l.Attempts, Window: l.Window}.Finish(State{Tries: s.Tries}, started, started, Succeeded)
		s.Tries = st.Tries
		if s.Counted[account] > 0 {
			s.Counted = cloneCounted(s.Counted)
			delete(s.Counted, account)
		}
		return s, true
	}
	if s.Counted[account] >= l.LockCap {
		return s, false
	}
	s.Counted = cloneCounted(s.Counted)
	s.Counted[account]++
	return s, true
}

func cloneCounted(m map[string]int) map[string]int {
	out := make(map[string]int, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SourceIdle is how long an unused source is kept; its lockout counts go with it.
const SourceIdle = 24 * time.Hour

// SourceStore keeps SourceState per source address. UpdateSource must load the state (zero
// when absent), call fn and store what it left, atomically (under a mutex, or in one
// transaction with the row locked), so that two connections, or two nodes, counting tries of one
// source at once both count. An error refuses the try (fail closed).
type SourceStore interface {
	UpdateSource(ctx context.Context, source string, now time.Time, fn func(*SourceState)) error
}

// ErrSourcesFull: the in-memory table has no room for a new source.
var ErrSourcesFull = errors.New("limit: too many sources tracked at once")

// Sources keeps SourceState per source address, in memory (one process; the nodes of a cluster
// share theirs through the store instead). At most Max sources are kept (0: 100,000); when
// full, idle ones are forgotten, and if none is, a new source is refused (fail closed) until
// some are.
type Sources struct {
	Max int
	mu  sync.Mutex
	m   map[string]SourceState
}

// UpdateSource implements SourceStore.
func (s *Sources) UpdateSource(_ context.Context, source string, now time.Time, fn func(*SourceState)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]SourceState{}
	}
	st, ok := s.m[source]
	if !ok {
		max := s.Max
		if max <= 0 {
			max = 100_000
		}
		if len(s.m) >= max {
			for k, v := range s.m {
				if now.Sub(v.Seen) > SourceIdle {
					delete(s.m, k)
				}
			}
			if len(s.m) >= max {
				return ErrSourcesFull
			}
		}
	}
	fn(&st)
	s.m[source] = st
	return nil
}
