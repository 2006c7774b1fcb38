package connect

import "time"

// LockReplaySkew is how far apart two nodes' clocks may be: a replayed lock also reaches the
// sessions started up to this long after it (locking one session too many is the safe side).
const LockReplaySkew = 5 * time.Second

// LockReplayApplies decides whether a lock (locked) or unlock sent at `at`, which this node
// missed and now replays, applies to one running session: a lock reaches the sessions running
// when it was sent (as the lock command does: "all your current sessions"), not those started
// later, and leaves a locked one alone; an unlock lifts only a lock set before it was sent (a
// lock, or an idle lock, set after it stays: an unlock is never replayed onto a later lock).
// started and lockedAt are the session's times on this node's clock. Pure, tested as a table.
func LockReplayApplies(locked bool, at, started time.Time, isLocked bool, lockedAt time.Time) bool {
	if locked {
		return !isLocked && started.Before(at.Add(LockReplaySkew))
	}
	return isLocked && lockedAt.Before(at)
}

// Replay applies a lock or unlock of account sent at `at` that this node missed to the
// sessions LockReplayApplies selects; it returns how many it changed.
func (l *Locks) Replay(account string, locked bool, at time.Time) int {
	l.mu.Lock()
	gates := make([]*idleGate, 0, len(l.sessions[account]))
	for g := range l.sessions[account] {
		gates = append(gates, g)
	}
	l.mu.Unlock()
	n := 0
	for _, g := range gates {
		g.mu.Lock()
		apply := LockReplayApplies(locked, at, g.started, g.locked, g.lockedAt)
		g.mu.Unlock()
		// Between the decision and the change a live control may pass: both say the same thing
		// (the replay is only of what is newer than what this node applied).
		if apply && g.setLocked(locked, "") {
			if locked {
				// The lock holds from when it was sent: a later unlock, missed too and replayed,
				// compares with that time, not with when this node caught up.
				g.mu.Lock()
				g.lockedAt = at
				g.mu.Unlock()
			}
			n++
		}
	}
	return n
}

// Accounts returns the accounts with relayed sessions running here.
func (l *Locks) Accounts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.sessions))
	for a, gs := range l.sessions {
		if len(gs) > 0 {
			out = append(out, a)
		}
	}
	return out
}
