package restricted

import (
	"context"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
)

// RegisterPasswords adds the egress password commands on other accounts.
func RegisterPasswords(r *osh.Registry) {
	accountOpt := osh.Option{Name: "account", Kind: osh.String, Help: "the account"}
	r.Add(
		&osh.Command{Name: "accountGeneratePassword", Category: osh.Restricted, Summary: "generate a new egress password for an account",
			Options: common.PasswordSizeOptions(accountOpt), Run: accountGeneratePassword},
		&osh.Command{Name: "accountListPasswords", Category: osh.Restricted, Summary: "the hashes of an account's egress passwords",
			Options: []osh.Option{accountOpt}, Run: accountListPasswords},
	)
}

func accountGeneratePassword(ctx context.Context, c *osh.Call) osh.Result {
	a, r := common.LoadAccount(ctx, c, "account")
	if r != nil {
		return *r
	}
	// A new egress password changes how the account reaches its servers: the same rule as its
	// personal accesses (no non-admin on an admin, nobody on themselves through account*).
	if r := common.MayChange(c, a, access.AccountChange{Kind: access.ChangePersonalAccess}); r != nil {
		return *r
	}
	return common.GeneratePassword(ctx, c, "account", a.Name, common.PasswordLabel(false, a.Name))
}

func accountListPasswords(ctx context.Context, c *osh.Call) osh.Result {
	a, r := common.LoadAccount(ctx, c, "account")
	if r != nil {
		return *r
	}
	return common.ListPasswords(ctx, c, "account", a.Name, "This account doesn't have any egress password configured")
}
