package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/store"
)

// Locks are stored (store.SessionLocks: the last lock or unlock of each account, with a version
// one more at each), then sent to the other nodes. A node that missed the notification (its
// LISTEN connection was down) reads, once the connection is back, the state of every account
// with sessions running on it, and replays what is newer than what it applied: a lock onto the
// sessions that were running when it was sent, an unlock onto the sessions locked before it
// (connect.LockReplayApplies).
//
// A node that restarts has no sessions left (a relayed session lives in its node's process):
// the sessions that start afterwards are not locked, as The Bastion's lock reaches "all your
// current sessions" and no later one.

// lockVersions is the version of the last lock/unlock this node applied, per account.
type lockVersions struct {
	mu       sync.Mutex
	applied  map[string]int64
	replayed atomic.Uint64
}

// LockReplayNeeded says whether a stored lock/unlock of version stored must be replayed on a
// node that applied version applied of that account (0: none). Pure, tested as a table.
func LockReplayNeeded(stored, applied int64) bool {
	return stored > applied
}

// LiveLockApplies says whether a lock/unlock received live, of version (0: its sender could not
// store it), is applied on a node that applied version applied of that account: not when it is
// older (two nodes' commands crossed, and their notifications came in the other order: the
// newer one, already applied, is the stored state). Pure, tested as a table.
func LiveLockApplies(version, applied int64) bool {
	return version == 0 || version > applied
}

// apply runs fn (a lock/unlock received live) unless LiveLockApplies says it is stale, and
// notes its version.
func (v *lockVersions) apply(account string, version int64, fn func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !LiveLockApplies(version, v.applied[account]) {
		return
	}
	fn()
	v.note(account, version)
}

func (v *lockVersions) note(account string, version int64) {
	if v.applied == nil {
		v.applied = map[string]int64{}
	}
	v.applied[account] = max(v.applied[account], version)
}

// replay applies st when it is newer than what was applied, under the same lock as the live
// controls (a control received meanwhile is never undone by an older stored state).
func (v *lockVersions) replay(st store.SessionLock, fn func()) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !LockReplayNeeded(st.Version, v.applied[st.Account]) {
		return false
	}
	fn()
	v.note(st.Account, st.Version)
	v.replayed.Add(1)
	return true
}

// storeSessionLock records a lock/unlock sent through this node and returns its version (0 when
// the store did not take it: the other nodes are still told, but one that misses the
// notification cannot catch up; logged).
func (a *App) storeSessionLock(account string, locked bool) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := a.Store.SetSessionLock(ctx, store.SessionLock{Account: account, Locked: locked, At: a.Env.Deps().Now(), Node: a.NodeName(), By: account})
	if err != nil {
		a.cluster.sendFailed.Add(1)
		a.log.Error("cannot store the lock state of the account's sessions: a node that misses the notification will not catch up", "account", account, "locked", locked, "err", err)
		return 0
	}
	a.cluster.locks.apply(account, l.Version, func() {})
	return l.Version
}

// lockReplayer is this node's session locks, as connect.Locks offers them.
type lockReplayer interface {
	Accounts() []string
	Replay(account string, locked bool, at time.Time) int
}

// replaySessionLocks catches up the locks and unlocks sent while this node's LISTEN connection
// was down, for the accounts with sessions running here (one query). A store that does not
// answer replays nothing: the next reconnection tries again.
func (a *App) replaySessionLocks(ctx context.Context, locks localLocks) {
	r, ok := locks.(lockReplayer)
	if !ok {
		return
	}
	accounts := r.Accounts()
	if len(accounts) == 0 {
		return
	}
	states, err := a.Store.SessionLockStates(ctx, accounts)
	if err != nil {
		a.log.Error("cannot read the lock state of the running sessions from the store", "err", err)
		return
	}
	for _, st := range states {
		var n int
		if a.cluster.locks.replay(st, func() { n = r.Replay(st.Account, st.Locked, st.At) }) && n > 0 {
			a.log.Info("replayed a session lock missed while the cluster connection was down", "account", st.Account,
				"locked", st.Locked, "sent_by_node", st.Node, "at", st.At.UTC().Format(time.RFC3339Nano), "sessions", n)
		}
	}
}
