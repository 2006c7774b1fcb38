package store

import (
	"context"
	"errors"
	"time"
)

// MFASourceState is the second-factor throttling state of one source address
// (internal/mfa/limit.SourceState), shared by the nodes: a source that fails its tries on node A
// is throttled on node B too.
type MFASourceState struct {
	Tries   []time.Time    // starts of the tries counted in the rate limit window
	Counted map[string]int // account → failures from this source counted toward its lockout
	Seen    time.Time      // the last try (zero when never)
}

// MFASources is the part of the store that keeps the per-source MFA throttling.
type MFASources interface {
	// UpdateMFASource loads the source's state (zero when absent), calls fn and saves what it
	// left, in one transaction with the row locked: two nodes counting tries of one source at once
	// both count. When fn fails nothing is saved.
	// A source not yet in the table is added only if there is room (MFASourceRoom); else
	// UpdateMFASource returns ErrMFASourcesFull and nothing is saved.
	UpdateMFASource(ctx context.Context, source string, room MFASourceRoom, fn func(*MFASourceState) error) error
	// ForgetMFASources removes the sources whose last try is before t.
	ForgetMFASources(ctx context.Context, before time.Time) (int, error)
}

// MFASourcesMax is how many sources the per-source MFA table keeps at most by default: an
// attacker rotating source addresses (an IPv6 /48 holds 65,536 /64s) must not grow it without
// bound between two 24 h sweeps.
const MFASourcesMax = 100_000

// ErrMFASourcesFull: the per-source MFA table has no room for a new source, every source in it
// having tried within the rate limit window. The caller refuses the try (fail closed).
var ErrMFASourcesFull = errors.New("store: the per-source MFA table is full")

// MFASourceRoom says how a new source makes room in a full per-source MFA table: first the
// sources idle since before IdleBefore go (those the 24 h sweep would remove), then the least
// recently seen sources whose last try is before QuietBefore (outside the rate limit window:
// throttled no more; what is lost is how much they still may add to accounts' lockouts, which a
// new address would get anyway). A table still full refuses the new source.
type MFASourceRoom struct {
	Max         int // rows kept at most (0: MFASourcesMax)
	IdleBefore  time.Time
	QuietBefore time.Time
}

// Limit is the row cap in force.
func (r MFASourceRoom) Limit() int {
	if r.Max <= 0 {
		return MFASourcesMax
	}
	return r.Max
}

// SessionLock is the last lock or unlock sent to an account's running sessions (the lock and
// unlock commands), kept so that a node that missed the notification catches up.
type SessionLock struct {
	Account string
	Locked  bool      // lock (true) or unlock (false)
	Version int64     // one more at each lock or unlock of this account
	At      time.Time // when it was sent: it applies to the sessions running then
	Node    string    // the node it was sent through
	By      string    // who sent it (the account running the command)
}

// SessionLocks is the part of the store that keeps the lock state of the accounts' sessions.
type SessionLocks interface {
	// SetSessionLock records a lock or unlock of account's sessions (l.Account, l.Locked, l.At,
	// l.Node, l.By) and returns it with its version, one more than the account's previous one.
	SetSessionLock(ctx context.Context, l SessionLock) (SessionLock, error)
	// SessionLockStates returns the recorded state of each of accounts that has one.
	SessionLockStates(ctx context.Context, accounts []string) ([]SessionLock, error)
}
