package restricted

import (
	"context"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
)

// RegisterSessions adds the commands on anyone's sessions: granted accounts, admins and auditors.
func RegisterSessions(r *osh.Registry) {
	opts := append([]osh.Option{{Name: "account", Kind: osh.String, Help: "only this account's sessions"}}, common.SessionListOptions...)
	r.Add(
		&osh.Command{Name: "accountListSessions", Category: osh.Restricted, AuditorMay: true, Summary: "anyone's past sessions",
			Options: opts, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				return common.ListSessions(ctx, c, c.Args.String("account"))
			}},
		&osh.Command{Name: "accountPlaySession", Category: osh.Restricted, AuditorMay: true, Summary: "replay anyone's past session",
			Options: common.PlayOptions, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				return common.PlaySession(ctx, c, "")
			}},
	)
}
