// Package groupaclkeeper holds the commands of a group's aclkeepers, who decide which servers the
// group reaches (The Bastion's bin/plugin/group-aclkeeper/; the folder names the role). The
// dispatcher lets in aclkeepers of at least one group and super-owners; each command then checks
// the role on its group (super-owners pass with "OVERRIDE").
//
// Invariants: every entry is validated before anything is stored (host an IP, a prefix or a host
// name resolved to its IP; user without shell metacharacters; port 1-65535); a prefix needs no
// --force but is bounded by [plugin.NAME] widest_v4_prefix; groupAddServer tries the connection
// with the group's keys unless --force; groupSetServers replaces the whole list in one
// transaction or changes nothing.
package groupaclkeeper

import (
	"context"
	"errors"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

var groupOpt = osh.Option{Name: "group", Kind: osh.String, Help: "the group name"}

// Register adds the aclkeeper commands to r.
func Register(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "groupAddServer", Category: osh.GroupAclkeeper, Summary: "add a server (or a network) to a group",
			Options: common.AddACLOptions(groupOpt), Run: addServer},
		&osh.Command{Name: "groupDelServer", Category: osh.GroupAclkeeper, Summary: "remove a server from a group",
			Options: common.ACLOptions(groupOpt), Run: delServer},
		&osh.Command{Name: "groupSetServers", Category: osh.GroupAclkeeper, Summary: "replace a group's whole server list by one read from standard input",
			ReadsStdin: true,
			Options: []osh.Option{groupOpt,
				{Name: "dry-run", Kind: osh.Flag, Help: "only check the list and report errors"},
				{Name: "skip-errors", Kind: osh.Flag, Help: "drop the entries that do not parse instead of aborting"},
				{Name: "force", Kind: osh.Flag, Help: "accepted for compatibility: prefixes need no --force (they are bounded by widest_v4_prefix)"}},
			Run: setServers},
	)
}

func loadAsAclkeeper(ctx context.Context, c *osh.Call, doing string) (store.Group, *osh.Result) {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return g, r
	}
	return g, common.RequireRole(c, g, access.RoleAclkeeper, doing)
}

func addServer(ctx context.Context, c *osh.Call) osh.Result {
	spec, r := common.ParseACL(c, true, true)
	if r != nil {
		return *r
	}
	g, r := loadAsAclkeeper(ctx, c, "add servers to it")
	if r != nil {
		return *r
	}
	if r := common.ResolveHost(ctx, c, &spec); r != nil {
		return *r
	}
	if r := common.TestConnection(ctx, c, store.ACLGroup, g.Name, spec, c.Args.Has("force")); r != nil {
		return *r
	}
	now := c.Now()
	added, err := common.AddACL(ctx, c.Env.Store, spec.Entry(store.ACLGroup, g.Name, "", c.Caller().Name, now), now)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot add the server: %v", err)
	}
	if !added {
		msg := spec.Machine() + " is already in the server list of group " + g.Name + ", nothing to do"
		c.P.Line("%s", msg)
		return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
	}
	c.P.Line("%s was added to group %s.", spec.Machine(), g.Name)
	c.P.Line("Its servers must hold the group's egress key (see groupInfo) in their authorized_keys.")
	if spec.TTL > 0 {
		c.P.Line("This access expires in %s.", spec.TTL)
	}
	v := spec.Value()
	v["group"] = g.Name
	return osh.OK("", v)
}

func delServer(ctx context.Context, c *osh.Call) osh.Result {
	spec, r := common.ParseACL(c, false, true)
	if r != nil {
		return *r
	}
	g, r := loadAsAclkeeper(ctx, c, "remove servers from it")
	if r != nil {
		return *r
	}
	err := c.Env.Store.DeleteACL(ctx, spec.Entry(store.ACLGroup, g.Name, "", "", time.Time{}))
	if errors.Is(err, store.ErrNotFound) {
		msg := spec.Machine() + " was not in the server list of group " + g.Name + ", nothing to do"
		c.P.Line("%s", msg)
		return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot remove the server: %v", err)
	}
	c.P.Line("%s was removed from group %s.", spec.Machine(), g.Name)
	v := spec.Value()
	delete(v, "ttl")
	delete(v, "comment")
	v["group"] = g.Name
	return osh.OK("", v)
}
