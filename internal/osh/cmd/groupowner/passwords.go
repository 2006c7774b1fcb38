package groupowner

import (
	"context"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
)

// RegisterPasswords adds groupGeneratePassword.
func RegisterPasswords(r *osh.Registry) {
	r.Add(&osh.Command{Name: "groupGeneratePassword", Category: osh.GroupOwner, Summary: "generate a new egress password for a group",
		Options: common.PasswordSizeOptions(groupOpt), Run: groupGeneratePassword})
}

func groupGeneratePassword(ctx context.Context, c *osh.Call) osh.Result {
	g, r := loadAsOwner(ctx, c, "generate its passwords")
	if r != nil {
		return *r
	}
	return common.GeneratePassword(ctx, c, "group", g.Name, "group "+g.Name)
}
