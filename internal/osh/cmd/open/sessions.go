package open

import (
	"context"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
)

// RegisterSessions adds the commands on one's own sessions.
func RegisterSessions(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "selfListSessions", Category: osh.Open, Summary: "your past sessions (commands, connections, refusals)",
			Options: common.SessionListOptions, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				own, r := common.OwnSessions(c)
				if r != nil {
					return *r
				}
				return common.ListSessions(ctx, c, own)
			}},
		&osh.Command{Name: "selfPlaySession", Category: osh.Open, Summary: "replay one of your past sessions",
			Options: common.PlayOptions, Run: func(ctx context.Context, c *osh.Call) osh.Result {
				own, r := common.OwnSessions(c)
				if r != nil {
					return *r
				}
				return common.PlaySession(ctx, c, own)
			}},
	)
}
