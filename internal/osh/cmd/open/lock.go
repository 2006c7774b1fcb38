package open

import (
	"context"

	"gatehouse/internal/osh"
)

// RegisterLock adds lock and unlock: an account's relayed sessions stop showing anything and
// ignore keystrokes while locked (the idle lock does the same); unlock resumes them.
func RegisterLock(r *osh.Registry) {
	set := func(locked bool) func(context.Context, *osh.Call) osh.Result {
		return func(ctx context.Context, c *osh.Call) osh.Result {
			if c.Env.SessionLocks == nil {
				return osh.Fail("", "ERR_UNAVAILABLE", "Session locking is not available on this bastion")
			}
			n := c.Env.SessionLocks.Set(c.Caller().Name, locked)
			verb := map[bool]string{true: "locked", false: "unlocked"}[locked]
			c.P.Line("%d session(s) %s.", n, verb)
			// The Bastion answers OK whether or not a session was running.
			return osh.OK("", map[string]any{verb: n})
		}
	}
	r.Add(
		&osh.Command{Name: "lock", Category: osh.Open, Summary: "lock all your running sessions to servers", Run: set(true)},
		&osh.Command{Name: "unlock", Category: osh.Open, Summary: "unlock your locked sessions", Run: set(false)},
	)
}
