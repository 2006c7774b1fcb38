// Package groupowner holds the commands of a group's owners (The Bastion's
// bin/plugin/group-owner/; the folder names the role, without the dash Go forbids). The dispatcher
// lets in owners of at least one group and super-owners; every command then checks the role on
// the group it acts on with access.CheckRole, and a super-owner who is not an owner passes with
// "OVERRIDE" printed and a security event logged.
//
// Invariants: a group always keeps at least one owner; a removed owner keeps the other roles they
// hold; a group keeps at least one egress key unless --force says otherwise.
package groupowner

import (
	"context"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

var (
	groupOpt   = osh.Option{Name: "group", Kind: osh.String, Help: "the group name"}
	accountOpt = osh.Option{Name: "account", Kind: osh.String, Help: "the account name"}
)

// Register adds the group owner commands to r.
func Register(r *osh.Registry) {
	roleCmd := func(name, role string, on bool, summary string) *osh.Command {
		return &osh.Command{Name: name, Category: osh.GroupOwner, Summary: summary,
			Options: []osh.Option{groupOpt, accountOpt}, Run: setRole(role, on)}
	}
	r.Add(
		roleCmd("groupAddOwner", store.RoleOwner, true, "make an account an owner of a group"),
		roleCmd("groupDelOwner", store.RoleOwner, false, "remove an owner of a group (not the last one)"),
		roleCmd("groupAddGatekeeper", store.RoleGatekeeper, true, "make an account a gatekeeper (manages members and guests) of a group"),
		roleCmd("groupDelGatekeeper", store.RoleGatekeeper, false, "remove a gatekeeper of a group"),
		roleCmd("groupAddAclkeeper", store.RoleAclkeeper, true, "make an account an aclkeeper (manages servers) of a group"),
		roleCmd("groupDelAclkeeper", store.RoleAclkeeper, false, "remove an aclkeeper of a group"),
		&osh.Command{Name: "groupTransmitOwnership", Category: osh.GroupOwner, Summary: "give your ownership of a group to another account",
			Options: []osh.Option{groupOpt, accountOpt}, Run: transmitOwnership},
		&osh.Command{Name: "groupGenerateEgressKey", Category: osh.GroupOwner, Summary: "make a new egress key pair for a group",
			Options: []osh.Option{groupOpt,
				{Name: "algo", Kind: osh.String, Help: "ed25519, ecdsa or rsa"},
				{Name: "size", Kind: osh.Int, Help: "key size in bits (ecdsa 256/384/521, rsa 2048-8192)"},
				{Name: "encrypted", Kind: osh.Flag, Help: "refused: gatehouse seals every private key itself"}},
			Run: generateEgressKey},
		&osh.Command{Name: "groupDelEgressKey", Category: osh.GroupOwner, Summary: "remove an egress key of a group",
			Options: []osh.Option{groupOpt,
				{Name: "id", Kind: osh.Int, Help: "the key id shown by groupInfo"},
				{Name: "fingerprint", Kind: osh.String, Help: "the key fingerprint (SHA256:…)"},
				{Name: "force", Kind: osh.Flag, Help: "allow removing the group's last key"}},
			Run: delEgressKey},
		&osh.Command{Name: "groupModify", Category: osh.GroupOwner, Summary: "change the settings of a group",
			Options: modifyOptions(), Run: modify},
		&osh.Command{Name: "groupDestroy", Category: osh.GroupOwner, Summary: "delete a group, its servers, guests and keys", ReadsStdin: true,
			Options: []osh.Option{groupOpt, {Name: "no-confirm", Kind: osh.Flag, Help: "do not ask to type the group name"}},
			Run:     destroy},
	)
}

// loadAsOwner loads --group and checks the caller may manage it as an owner.
func loadAsOwner(ctx context.Context, c *osh.Call, doing string) (store.Group, *osh.Result) {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return g, r
	}
	return g, common.RequireRole(c, g, access.RoleOwner, doing)
}

func setRole(role string, on bool) func(context.Context, *osh.Call) osh.Result {
	return func(ctx context.Context, c *osh.Call) osh.Result {
		g, r := loadAsOwner(ctx, c, "change its "+role+" list")
		if r != nil {
			return *r
		}
		a, r := common.LoadAccount(ctx, c, "account")
		if r != nil {
			return *r
		}
		if role == store.RoleOwner && !on && g.Has(store.RoleOwner, a.Name) && len(g.Roles[store.RoleOwner]) == 1 {
			return osh.Fail("", "ERR_LAST_OWNER", "%s is the last owner of group %s: add another owner first (groupAddOwner), a group cannot be left without one", a.Name, g.Name)
		}
		return common.SetRole(ctx, c, g, role, a.Name, on)
	}
}

func transmitOwnership(ctx context.Context, c *osh.Call) osh.Result {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return *r
	}
	// Only an owner can give away ownership: a super-owner has none to give (they use groupAddOwner).
	if r := common.RequireOwnRole(c, g, access.RoleOwner, "transmit its ownership"); r != nil {
		return *r
	}
	a, r := common.LoadAccount(ctx, c, "account")
	if r != nil {
		return *r
	}
	me := c.Caller().Name
	if a.Name == me {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "You are already the owner of " + g.Name + ", nothing to do"}
	}
	if _, err := c.Env.Store.SetRole(ctx, g.Name, store.RoleOwner, a.Name, true); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot make %s an owner of %s: %v", a.Name, g.Name, err)
	}
	// Adding first means a failure here leaves two owners, never none.
	if _, err := c.Env.Store.SetRole(ctx, g.Name, store.RoleOwner, me, false); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "%s is now an owner of %s, but removing your own ownership failed (%v): use groupDelOwner", a.Name, g.Name, err)
	}
	c.P.Line("Ownership of group %s transmitted to %s; you keep your other roles in the group.", g.Name, a.Name)
	return osh.Result{Code: "OK", Message: "OK"}
}

func generateEgressKey(ctx context.Context, c *osh.Call) osh.Result {
	algo, size := c.Args.String("algo"), c.Args.Int("size")
	if r := common.CheckKeyAlgo(algo, size); r != nil {
		return *r
	}
	if c.Args.Has("encrypted") {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--encrypted is not supported: gatehouse seals every egress private key with its own key")
	}
	g, r := loadAsOwner(ctx, c, "generate egress keys for it")
	if r != nil {
		return *r
	}
	k, err := common.NewEgressKey(ctx, c, "group", g.Name, algo, size)
	if err != nil {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "cannot generate the key: %v", err)
	}
	c.P.Line("New egress key generated for group %s. Its public half, for the authorized_keys of the group's servers:", g.Name)
	return osh.OK("", common.GroupKeyValue(c.P, k, c.Cfg().EgressKeysFrom))
}

func delEgressKey(ctx context.Context, c *osh.Call) osh.Result {
	if c.Args.Has("id") == c.Args.Has("fingerprint") {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Give exactly one of --id or --fingerprint (see groupInfo)")
	}
	g, r := loadAsOwner(ctx, c, "delete its egress keys")
	if r != nil {
		return *r
	}
	keys, err := c.Env.Store.ListEgressKeys(ctx, "group", g.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the keys of %s: %v", g.Name, err)
	}
	var found *store.EgressKey
	for i := range keys {
		if (c.Args.Has("id") && keys[i].ID == int64(c.Args.Int("id"))) || keys[i].Fingerprint == c.Args.String("fingerprint") {
			found = &keys[i]
		}
	}
	if found == nil {
		return osh.Fail("", "ERR_NOT_FOUND", "Group %s has no such egress key (see groupInfo)", g.Name)
	}
	if len(keys) == 1 && !c.Args.Has("force") {
		return osh.Fail("", "ERR_LAST_KEY", "This is the last egress key of group %s: its members could no longer connect. Generate another one first, or add --force", g.Name)
	}
	if err := c.Env.Store.DeleteEgressKey(ctx, "group", g.Name, found.Fingerprint); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot delete the key: %v", err)
	}
	c.P.Line("Egress key %s of group %s deleted.", found.Fingerprint, g.Name)
	return osh.OK("", map[string]any{"id": found.ID, "fingerprint": found.Fingerprint})
}

func destroy(ctx context.Context, c *osh.Call) osh.Result {
	g, r := loadAsOwner(ctx, c, "destroy it")
	if r != nil {
		return *r
	}
	return common.DeleteGroup(ctx, c, g)
}
