package open

import (
	"context"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
)

// RegisterPasswords adds the egress password commands every account may run.
func RegisterPasswords(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "selfGeneratePassword", Category: osh.Open, Summary: "generate a new egress password for your account (for devices without SSH keys)",
			Options: common.PasswordSizeOptions(), Run: selfGeneratePassword},
		&osh.Command{Name: "selfListPasswords", Category: osh.Open, Summary: "the hashes of your egress passwords", Run: selfListPasswords},
		&osh.Command{Name: "groupListPasswords", Category: osh.Open, Summary: "the hashes of a group's egress passwords",
			Options: []osh.Option{{Name: "group", Kind: osh.String, Help: "show the data for this group"}}, Run: groupListPasswords},
	)
}

func selfGeneratePassword(ctx context.Context, c *osh.Call) osh.Result {
	me := c.Caller().Name
	return common.GeneratePassword(ctx, c, "account", me, common.PasswordLabel(true, me))
}

func selfListPasswords(ctx context.Context, c *osh.Call) osh.Result {
	return common.ListPasswords(ctx, c, "account", c.Caller().Name, "You don't have any egress password configured")
}

func groupListPasswords(ctx context.Context, c *osh.Call) osh.Result {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return *r
	}
	if !common.IsGroupMember(g, c.Caller().Name) && !c.Sess.Roles.SuperOwner {
		return osh.Fail("", "ERR_NOT_ALLOWED", "Sorry, you must be a member of group %s", g.Name)
	}
	return common.ListPasswords(ctx, c, "group", g.Name, "This group doesn't have any egress password configured")
}
