package restricted

import (
	"context"
	"errors"

	"gatehouse/internal/access"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// RegisterSessions adds the commands on anyone's sessions: granted accounts, admins and auditors.
func RegisterSessions(r *osh.Registry) {
	opts := append([]osh.Option{{Name: "account", Kind: osh.String, Help: "only this account's sessions (of a deleted account: those recorded under its name)"},
		{Name: "account-id", Kind: osh.String, Help: "only the sessions of this account identity (the account_id field)"}}, common.SessionListOptions...)
	r.Add(
		&osh.Command{Name: "accountListSessions", Category: osh.Restricted, AuditorMay: true, Summary: "anyone's past sessions",
			Options: opts, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				owner, r := ownerOf(ctx, c)
				if r != nil {
					return *r
				}
				return common.ListSessions(ctx, c, owner)
			}},
		&osh.Command{Name: "accountPlaySession", Category: osh.Restricted, AuditorMay: true, Summary: "replay anyone's past session",
			Options: common.PlayOptions, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				return common.PlaySession(ctx, c, common.Owner{})
			}},
	)
}

// ownerOf reads --account and --account-id. An existing account's sessions are those of its
// identity, not of its name, so a namesake's past is not shown as its own; the sessions of a
// deleted account stay reachable through its name (no account holds it now) or its id.
func ownerOf(ctx context.Context, c *osh.Call) (common.Owner, *osh.Result) {
	name, id := c.Args.String("account"), c.Args.String("account-id")
	switch {
	case name != "" && id != "":
		return common.Owner{}, common.Failure("ERR_INVALID_PARAMETER", "give --account or --account-id, not both")
	case id != "":
		return common.Owner{AccountID: id}, nil
	case name == "":
		return common.Owner{}, nil
	}
	if err := access.ValidateAccountName(name); err != nil {
		return common.Owner{}, common.Failure("ERR_INVALID_ACCOUNT", "%v", err)
	}
	a, err := c.Env.Store.GetAccount(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return common.Owner{Account: name}, nil
	case err != nil:
		return common.Owner{}, common.Failure("ERR_INTERNAL", "cannot load account %s: %v", name, err)
	case a.ID == "":
		return common.Owner{}, common.Failure("ERR_INTERNAL", "account %s has no identity in the store", name)
	}
	return common.Owner{AccountID: a.ID}, nil
}
