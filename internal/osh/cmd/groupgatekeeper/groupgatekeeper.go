// Package groupgatekeeper holds the commands of a group's gatekeepers, who decide who may use the
// group (The Bastion's bin/plugin/group-gatekeeper/; the folder names the role). The dispatcher
// lets in gatekeepers of at least one group and super-owners; each command then checks the role
// on its group (super-owners pass with "OVERRIDE").
//
// Invariants, as The Bastion's: an account is a member or a guest of a group, never both
// (becoming a member wipes its guest accesses); a guest access is always inside the group's own
// server list, and within the group's guest TTL limit. An account holding guest accesses in a
// group also holds common.GuestRole there, until its last guest access goes.
package groupgatekeeper

import (
	"context"
	"errors"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

var (
	groupOpt   = osh.Option{Name: "group", Kind: osh.String, Help: "the group name"}
	accountOpt = osh.Option{Name: "account", Kind: osh.String, Help: "the account name"}
)

// Register adds the gatekeeper commands to r.
func Register(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "groupAddMember", Category: osh.GroupGatekeeper, Summary: "make an account a member of a group (access to all its servers)",
			Options: []osh.Option{groupOpt, accountOpt}, Run: addMember},
		&osh.Command{Name: "groupDelMember", Category: osh.GroupGatekeeper, Summary: "remove a member of a group",
			Options: []osh.Option{groupOpt, accountOpt}, Run: delMember},
		&osh.Command{Name: "groupAddGuestAccess", Category: osh.GroupGatekeeper, Summary: "let an account reach one server of a group with the group's key",
			Options: common.ACLOptions(groupOpt, accountOpt), Run: addGuestAccess},
		&osh.Command{Name: "groupDelGuestAccess", Category: osh.GroupGatekeeper, Summary: "remove a guest access of an account to a group's server",
			Options: common.ACLOptions(groupOpt, accountOpt), Run: delGuestAccess},
		&osh.Command{Name: "groupListGuestAccesses", Category: osh.GroupGatekeeper, Summary: "the guest accesses of an account in a group",
			Options: []osh.Option{groupOpt, accountOpt}, Run: listGuestAccesses},
	)
}

// target loads --group, checks the caller is its gatekeeper, and loads --account.
func target(ctx context.Context, c *osh.Call, doing string) (store.Group, store.Account, *osh.Result) {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return g, store.Account{}, r
	}
	if r := common.RequireRole(c, g, access.RoleGatekeeper, doing); r != nil {
		return g, store.Account{}, r
	}
	a, r := common.LoadAccount(ctx, c, "account")
	return g, a, r
}

func addMember(ctx context.Context, c *osh.Call) osh.Result {
	g, a, r := target(ctx, c, "change its member list")
	if r != nil {
		return *r
	}
	if g.Has(store.RoleMember, a.Name) {
		return common.SetRole(ctx, c, g, store.RoleMember, a.Name, true) // OK_NO_CHANGE, with its sentence
	}
	guest, err := c.Env.Store.ListACL(ctx, store.ACLGuest, g.Name, a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the guest accesses of %s: %v", a.Name, err)
	}
	if len(guest) > 0 {
		c.P.Line("This account was previously a guest of this group, with the following accesses:")
		common.PrintACLHeader(c.P)
		common.PrintACL(c.P, g.Name+"(group-guest)", common.Entries(guest), time.Time{})
		c.P.Line("")
		c.P.Line("Cleaning these guest accesses before granting membership...")
		for _, e := range guest {
			if err := c.Env.Store.DeleteACL(ctx, e); err != nil {
				return osh.Fail("", "ERR_INTERNAL", "cannot remove a guest access of %s, membership not granted: %v", a.Name, err)
			}
		}
	}
	if _, err := c.Env.Store.SetRole(ctx, g.Name, common.GuestRole, a.Name, false); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot clear the guest role of %s: %v", a.Name, err)
	}
	return common.SetRole(ctx, c, g, store.RoleMember, a.Name, true)
}

func delMember(ctx context.Context, c *osh.Call) osh.Result {
	g, a, r := target(ctx, c, "change its member list")
	if r != nil {
		return *r
	}
	return common.SetRole(ctx, c, g, store.RoleMember, a.Name, false)
}

func addGuestAccess(ctx context.Context, c *osh.Call) osh.Result {
	spec, r := common.ParseACL(c, true, false)
	if r != nil {
		return *r
	}
	g, a, r := target(ctx, c, "change its guest list")
	if r != nil {
		return *r
	}
	if g.Has(store.RoleMember, a.Name) {
		return osh.Fail("", "ERR_MEMBER_CANNOT_BE_GUEST", "Can't add %s as a guest of group %s, they're already a member!", a.Name, g.Name)
	}
	if err := access.CheckGuestTTL(g.GuestTTLLimit, spec.TTL); err != nil {
		// The decision is access's; the sentences are The Bastion's, which scripts match.
		if spec.TTL <= 0 {
			return osh.Fail("", "ERR_INVALID_PARAMETER", "This group requires guest accesses to have a TTL set, to a duration of %s or less", osh.HumanDuration(g.GuestTTLLimit))
		}
		return osh.Fail("", "ERR_INVALID_PARAMETER", "The TTL you specified is invalid, this group requires guest accesses to have a TTL of %s maximum", osh.HumanDuration(g.GuestTTLLimit))
	}
	servers, err := c.Env.Store.ListACL(ctx, store.ACLGroup, g.Name, "")
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the servers of %s: %v", g.Name, err)
	}
	now := c.Now()
	covered := false
	for _, e := range common.Entries(servers) {
		if common.Covers(e, spec, now) {
			covered = true
			break
		}
	}
	if !covered {
		return osh.Fail("", "ERR_GROUP_HAS_NO_ACCESS", "The group %s doesn't have access to %s, so you can't add a guest group access to it (first add it to the group if applicable, with groupAddServer)", g.Name, spec.Machine())
	}
	// The role first: if storing the entry then fails, the role alone grants nothing.
	if _, err := c.Env.Store.SetRole(ctx, g.Name, common.GuestRole, a.Name, true); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot record %s as a guest of %s: %v", a.Name, g.Name, err)
	}
	added, err := common.AddACL(ctx, c.Env.Store, spec.Entry(store.ACLGuest, g.Name, a.Name, c.Caller().Name, now), now)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot add the guest access: %v", err)
	}
	if !added {
		msg := "Account " + a.Name + " already had access to " + spec.Machine() + " through " + g.Name
		c.P.Line("%s", msg)
		return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
	}
	c.P.Line("Account %s has now access to the group key of %s, but does NOT automatically inherit access", a.Name, g.Name)
	c.P.Line("to any of the group's servers, only to %s, and any other %s server previously granted to %s.", spec.Machine(), g.Name, a.Name)
	if spec.TTL > 0 {
		c.P.Line("This access will expire in %s.", spec.TTL)
	}
	v := spec.Value()
	v["group"], v["account"] = g.Name, a.Name
	return osh.OK("", v)
}

func delGuestAccess(ctx context.Context, c *osh.Call) osh.Result {
	spec, r := common.ParseACL(c, false, false)
	if r != nil {
		return *r
	}
	g, a, r := target(ctx, c, "change its guest list")
	if r != nil {
		return *r
	}
	if g.Has(store.RoleMember, a.Name) {
		return osh.Fail("", "ERR_MEMBER_CANNOT_BE_GUEST", "Can't remove %s as a guest of group %s, they're a member!", a.Name, g.Name)
	}
	err := c.Env.Store.DeleteACL(ctx, spec.Entry(store.ACLGuest, g.Name, a.Name, "", time.Time{}))
	switch {
	case errors.Is(err, store.ErrNotFound):
		msg := "Account " + a.Name + " didn't have access to " + spec.Machine() + " through " + g.Name
		c.P.Line("%s", msg)
		return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
	case err != nil:
		return osh.Fail("", "ERR_INTERNAL", "cannot remove the guest access: %v", err)
	}
	c.P.Line("Access to %s through group %s was removed from account %s.", spec.Machine(), g.Name, a.Name)
	left, err := c.Env.Store.ListACL(ctx, store.ACLGuest, g.Name, a.Name)
	if err == nil && len(left) == 0 {
		if _, err := c.Env.Store.SetRole(ctx, g.Name, common.GuestRole, a.Name, false); err == nil {
			c.P.Line("No guest access to servers of group %s remained for account %s, removed group key access.", g.Name, a.Name)
		}
	}
	return osh.Result{Code: "OK", Message: "OK"}
}

func listGuestAccesses(ctx context.Context, c *osh.Call) osh.Result {
	g, a, r := target(ctx, c, "list its guest accesses")
	if r != nil {
		return *r
	}
	list, err := c.Env.Store.ListACL(ctx, store.ACLGuest, g.Name, a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the guest accesses: %v", err)
	}
	entries := common.Entries(list)
	value := common.ACLValue(entries, c.Now())
	if len(value) == 0 {
		return osh.Result{Code: "OK_EMPTY", Message: "Account " + a.Name + " has no guest access to group " + g.Name}
	}
	c.P.Line("Guest accesses of %s in group %s:", a.Name, g.Name)
	common.PrintACLHeader(c.P)
	n := common.PrintACL(c.P, g.Name+"(group-guest)", entries, c.Now())
	c.P.Line("%d accesses listed", n)
	return osh.OK("", value)
}
