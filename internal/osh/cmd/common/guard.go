package common

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// Principal is an account as access.MayChangeAccount sees it.
func Principal(a store.Account) access.Principal {
	return access.Principal{ID: a.ID, Name: a.Name, Admin: a.HasGrant(osh.GrantAdmin),
		SuperOwner: a.HasGrant(osh.GrantAdmin) || a.HasGrant(osh.GrantSuperOwner)}
}

// MayChange applies the one rule of who may change whom (access.MayChangeAccount) to the caller,
// with the roles the session holds now (reloaded before each line), and target as just loaded.
// Every command that changes an account calls it before touching the store.
func MayChange(c *osh.Call, target store.Account, ch access.AccountChange) *osh.Result {
	me := c.Caller()
	actor := access.Principal{ID: me.ID, Name: me.Name, Admin: c.Sess.Roles.Admin, SuperOwner: c.Sess.Roles.SuperOwner}
	err := access.MayChangeAccount(actor, Principal(target), ch)
	if err == nil {
		return nil
	}
	var ref *access.Refusal
	if errors.As(err, &ref) {
		return Failure(ref.Code, "%s", ref.Message)
	}
	return Failure(access.CodeSecurityViolation, "%v", err)
}

// EndSessions ends the running sessions of account a's identity (relays included) with exit
// status exit, telling each user why, and audits it. It returns how many were ended.
func EndSessions(ctx context.Context, c *osh.Call, a store.Account, reason string, exit int) int {
	if c.Env.Running == nil {
		return 0
	}
	ids := c.Env.Running.End(a.ID, reason, exit)
	if len(ids) > 0 {
		// After the fact (the sessions ended): a failure is counted and alerted by the log.
		_ = c.Env.AuditEvent(ctx, audit.Event{Type: "account.sessions_ended", Fields: audit.Fields{Account: a.Name,
			Extra: map[string]string{"account_id": a.ID, "by": c.Caller().Name, "reason": reason,
				"sessions": fmt.Sprint(ids), "count": strconv.Itoa(len(ids))}}})
	}
	return len(ids)
}
