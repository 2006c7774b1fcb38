package open

import (
	"context"
	"io"
	"strconv"
	"strings"

	"gatehouse/internal/accessdb"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// RegisterGroups adds the open commands about groups and accesses to r: reading group
// information, one's own accesses, and forgetting one's own host keys.
func RegisterGroups(r *osh.Registry) {
	groupOpt := osh.Option{Name: "group", Kind: osh.String, Help: "the group name"}
	r.Add(
		&osh.Command{Name: "groupList", Category: osh.Open, Summary: "the groups you have a role in (--all: every group)",
			Options: []osh.Option{{Name: "all", Kind: osh.Flag, Help: "also the groups you have no access to"}}, Run: groupList},
		&osh.Command{Name: "groupInfo", Category: osh.Open, Summary: "a group's owners, keepers, members, settings and egress keys",
			Options: []osh.Option{groupOpt, {Name: "all", Kind: osh.Flag, Help: "every group (auditors and admins), use with --json"}}, Run: groupInfo},
		&osh.Command{Name: "groupListServers", Category: osh.Open, Summary: "the servers a group reaches",
			Options: append([]osh.Option{groupOpt, common.ReverseOption}, common.PatternOptions...), Run: groupListServers},
		&osh.Command{Name: "selfListAccesses", Category: osh.Open, Summary: "the servers you may reach, personally and through groups",
			Options: common.AccessListOptions, Run: selfListAccesses},
		&osh.Command{Name: "selfForgetHostKey", Category: osh.Open, Summary: "forget the host key you recorded for a server (after a legitimate change)",
			Options: common.HostPortOptions, Run: selfForgetHostKey},
	)
}

// groupFlags are the caller's roles in g, in The Bastion's order.
func groupFlags(g store.Group, account string) []string {
	var flags []string
	for _, role := range []string{store.RoleOwner, store.RoleGatekeeper, store.RoleAclkeeper, store.RoleMember, common.GuestRole} {
		if g.Has(role, account) {
			flags = append(flags, role)
		}
	}
	return flags
}

func groupList(ctx context.Context, c *osh.Call) osh.Result {
	all := c.Args.Has("all")
	me := c.Caller().Name
	groups, err := groupsToList(ctx, c.Env.Store, me, all)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list groups: %v", err)
	}
	value := map[string]any{}
	for _, g := range groups {
		flags := groupFlags(g, me)
		if len(flags) == 0 && !all {
			continue
		}
		if len(flags) == 0 {
			flags = []string{"no-access"}
		}
		mark := func(role, word string) string {
			if g.Has(role, me) {
				return word
			}
			return "-"
		}
		c.P.Line("%18s %6s %10s %9s %6s %5s", g.Name, mark(store.RoleOwner, "Owner"), mark(store.RoleGatekeeper, "GateKeeper"),
			mark(store.RoleAclkeeper, "ACLKeeper"), mark(store.RoleMember, "Member"), mark(common.GuestRole, "Guest"))
		value[g.Name] = map[string]any{"flags": flags}
	}
	if len(value) == 0 {
		if all {
			return osh.Result{Code: "OK_EMPTY", Message: "No group has been created on this bastion yet!"}
		}
		return osh.Result{Code: "OK_EMPTY", Message: "You are not in any group yet! You can use --all to see all groups"}
	}
	if !all {
		c.P.Line("")
		c.P.Line("If you want to see all the groups, even the ones you don't have access to, use --all")
	}
	return osh.OK("", value)
}

// groupsToList is what groupList shows, read in two queries whatever the number of groups
// (issue 14): the groups where me holds a role, with their roles; with all, every other group
// by its name only (the list shows nothing more of a group where me has no role).
func groupsToList(ctx context.Context, st store.Store, me string, all bool) ([]store.Group, error) {
	mine, err := st.GroupsOf(ctx, me)
	if err != nil || !all {
		return mine, err
	}
	names, err := st.GroupNames(ctx)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]store.Group, len(mine))
	for _, g := range mine {
		byName[g.Name] = g
	}
	out := make([]store.Group, 0, len(names))
	for _, n := range names {
		g, ok := byName[n]
		if !ok {
			g = store.Group{Name: n}
		}
		out = append(out, g)
	}
	return out, nil
}

func groupInfo(ctx context.Context, c *osh.Call) osh.Result {
	all := c.Args.Has("all")
	if !all && !c.Args.Has("group") {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing '--group' or '--all' parameter")
	}
	roles := c.Sess.Roles
	if all {
		if !roles.Auditor && !roles.Admin {
			return osh.Fail("", "ERR_ACCESS_DENIED", "Only bastion auditors can use --all")
		}
		groups, err := c.Env.Store.ListGroups(ctx)
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot list groups: %v", err)
		}
		// Every group's guest accesses and egress keys in two queries, not two per group (issue 14).
		lists, err := allGroupLists(ctx, c.Env.Store)
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot list groups: %v", err)
		}
		value := make(map[string]any, len(groups))
		quiet := &osh.Printer{W: io.Discard}
		for _, g := range groups {
			v, r := groupInfoValue(ctx, c, quiet, g, lists)
			if r != nil {
				return *r
			}
			value[g.Name] = v
		}
		c.P.Line("%d groups. If you're only seeing this line, you might want to use --json", len(groups))
		return osh.OK("", value)
	}
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return *r
	}
	v, r := groupInfoValue(ctx, c, c.P, g, groupLists{
		guests: func(group string) ([]store.ACLEntry, error) {
			return c.Env.Store.ListACL(ctx, store.ACLGuest, group, "")
		},
		keys: func(group string) ([]store.EgressKey, error) { return c.Env.Store.ListEgressKeys(ctx, "group", group) },
	})
	if r != nil {
		return *r
	}
	return osh.OK("", v)
}

// groupLists reads a group's guest accesses and egress keys for groupInfoValue: from the store
// for one group, from lists loaded once for groupInfo --all.
type groupLists struct {
	guests func(group string) ([]store.ACLEntry, error)
	keys   func(group string) ([]store.EgressKey, error)
}

// allGroupLists loads every group's guest accesses and egress keys at once.
func allGroupLists(ctx context.Context, st store.Store) (groupLists, error) {
	guests, err := st.ListACLKind(ctx, store.ACLGuest, "")
	if err != nil {
		return groupLists{}, err
	}
	keys, err := st.ListEgressKeysKind(ctx, "group")
	if err != nil {
		return groupLists{}, err
	}
	guestsOf, keysOf := map[string][]store.ACLEntry{}, map[string][]store.EgressKey{}
	for _, e := range guests {
		guestsOf[e.Owner] = append(guestsOf[e.Owner], e)
	}
	for _, k := range keys {
		keysOf[k.Owner] = append(keysOf[k.Owner], k)
	}
	return groupLists{
		guests: func(group string) ([]store.ACLEntry, error) { return guestsOf[group], nil },
		keys:   func(group string) ([]store.EgressKey, error) { return keysOf[group], nil },
	}, nil
}

// groupInfoValue is what groupInfo shows of g. Anyone sees the owners, gatekeepers and egress keys
// (whom to ask, what to install); members, keepers, owners, super-owners and auditors also see
// the aclkeepers, members, guests and settings, as in The Bastion.
func groupInfoValue(ctx context.Context, c *osh.Call, p *osh.Printer, g store.Group, lists groupLists) (map[string]any, *osh.Result) {
	me := c.Caller().Name
	roles := c.Sess.Roles
	list := func(role string) []string {
		if l := g.Roles[role]; l != nil {
			return l
		}
		return []string{}
	}
	v := map[string]any{"group": g.Name, "owners": list(store.RoleOwner), "gatekeepers": list(store.RoleGatekeeper)}
	p.Line("Group %s's Owners are: %s", g.Name, orDash(list(store.RoleOwner)))
	p.Line("Group %s's GateKeepers (managing the members/guests list) are: %s", g.Name, orDash(list(store.RoleGatekeeper)))
	full := roles.Auditor || roles.SuperOwner
	for _, f := range groupFlags(g, me) {
		full = full || f != common.GuestRole // guests see what anyone sees
	}
	if full {
		guests := list(common.GuestRole)
		counts := map[string]int{}
		if len(guests) > 0 {
			entries, err := lists.guests(g.Name)
			if err != nil {
				return nil, common.Failure("ERR_INTERNAL", "cannot list the guests of %s: %v", g.Name, err)
			}
			for _, e := range entries {
				counts[e.Account]++
			}
		}
		v["aclkeepers"], v["members"], v["guests"], v["guests_accesses"] = list(store.RoleAclkeeper), list(store.RoleMember), guests, counts
		v["mfa_required"], v["idle_lock_timeout"], v["idle_kill_timeout"], v["guest_ttl_limit"] = nil, nil, nil, nil
		p.Line("Group %s's ACLKeepers (managing the group servers list) are: %s", g.Name, orDash(list(store.RoleAclkeeper)))
		p.Line("Group %s's Members (with access to ALL the group servers) are: %s", g.Name, orDash(list(store.RoleMember)))
		var gl []string
		for _, a := range guests {
			gl = append(gl, a+"["+strconv.Itoa(counts[a])+"]")
		}
		p.Line("Group %s's Guests (with access to SOME of the group servers) are: %s", g.Name, orDash(gl))
		if g.MFARequired != "" && g.MFARequired != "none" {
			v["mfa_required"] = g.MFARequired
			p.Line("MFA Required: when connecting to servers of this group, users will be asked for an additional authentication factor (%s)", g.MFARequired)
		}
		if g.GuestTTLLimit > 0 {
			v["guest_ttl_limit"] = int64(g.GuestTTLLimit.Seconds())
			p.Line("Guest TTL enforced: guest accesses must have a TTL with a maximum duration of %s", g.GuestTTLLimit)
		}
		for _, x := range []struct {
			key, verb string
			secs      int
		}{{"idle_lock_timeout", "locked", g.IdleLockTimeout}, {"idle_kill_timeout", "cut", g.IdleKillTimeout}} {
			switch {
			case x.secs == 0:
				v[x.key] = 0
				p.Line("Specific %s: idle sessions on servers of this group will NOT be %s", strings.ReplaceAll(x.key, "_", " "), x.verb)
			case x.secs > 0:
				v[x.key] = x.secs
				p.Line("Specific %s: idle sessions on servers of this group will be %s after %ds", strings.ReplaceAll(x.key, "_", " "), x.verb, x.secs)
			}
		}
	} else {
		p.Line("You should ask them if you think you need access for your work tasks.")
	}
	keys, err := lists.keys(g.Name)
	if err != nil {
		return nil, common.Failure("ERR_INTERNAL", "cannot list the keys of %s: %v", g.Name, err)
	}
	p.Line("")
	switch len(keys) {
	case 0:
		p.Line("This group has no SSH egress key, the owner may use groupGenerateEgressKey to generate one.")
	case 1:
		p.Line("The public key of this group is:")
	default:
		p.Line("The public keys of this group are:")
	}
	p.Line("")
	v["keys"] = common.EgressKeysByFingerprint(p, keys, c.Cfg().EgressKeysFrom)
	return v, nil
}

func orDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, " ")
}

func groupListServers(ctx context.Context, c *osh.Call) osh.Result {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return *r
	}
	me := c.Caller().Name
	if len(groupFlags(g, me)) == 0 && !c.Sess.Roles.Auditor && !c.Sess.Roles.SuperOwner {
		return osh.Fail("", "KO_ACCESS_DENIED", "Sorry, you're neither a member nor a keeper of group %s, you can't list the servers of this group. If you think you should be able to, use groupInfo to get contact info.", g.Name)
	}
	list, err := c.Env.Store.ListACL(ctx, store.ACLGroup, g.Name, "")
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the servers of %s: %v", g.Name, err)
	}
	filter, r := common.AccessFilterOf(ctx, c)
	if r != nil {
		return *r
	}
	entries := common.Entries(list)
	if len(common.ACLValue(entries, c.Now())) == 0 {
		return osh.Result{Code: "OK_EMPTY", Message: "This group is empty, if you are an aclkeeper of this group, you might want to add servers to it with groupAddServer"}
	}
	value, shown := filter.Rows(entries, g.Name+"(group)", c.Now())
	common.PrintACLHeader(c.P)
	n := common.PrintACL(c.P, g.Name+"(group)", shown, c.Now())
	c.P.Line("")
	c.P.Line("%d accesses listed", n)
	return osh.OK("", value)
}

func selfListAccesses(ctx context.Context, c *osh.Call) osh.Result {
	filter, r := common.AccessFilterOf(ctx, c)
	if r != nil {
		return *r
	}
	in, err := accessdb.Load(ctx, c.Env.Store, *c.Caller())
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot load your accesses: %v", err)
	}
	me := c.Caller().Name
	var buf strings.Builder
	value, n := common.AccessesValue(&osh.Printer{W: &buf, Quiet: c.P.Quiet}, in, c.Now(), filter)
	if n == 0 {
		return osh.Result{Code: "OK_EMPTY", Message: "Dear " + me + ", you have no registered accesses to machines through this bastion yet"}
	}
	c.P.Line("Dear %s, you have access to the following servers:", me)
	c.P.Line("")
	_, _ = io.WriteString(c.P.W, buf.String())
	c.P.Line("")
	c.P.Line("%d accesses listed", n)
	return osh.OK("", value)
}

func selfForgetHostKey(ctx context.Context, c *osh.Call) osh.Result {
	_, _, hp, r := common.ParseHostPort(c)
	if r != nil {
		return *r
	}
	// As The Bastion for an account without a known_hosts file: nothing recorded, nothing to do.
	has, err := c.Env.Store.HasKnownHosts(ctx, c.Caller().Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot read your known host keys: %v", err)
	}
	if !has {
		c.P.Line("Your account didn't have any known host key, nothing to do")
		return osh.Result{Code: "OK_NO_CHANGE", Message: "Your account didn't have any known host key, nothing to do"}
	}
	n, err := c.Env.Store.ForgetHost(ctx, c.Caller().Name, hp)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot forget the host key: %v", err)
	}
	// The Bastion's value: per known_hosts entry looked for, what was done.
	if n == 0 {
		c.P.Line("No host key was known for %s (maybe you forgot to specify --port?)", hp)
		return osh.OK("", map[string]any{hp: map[string]any{"action": "OK_NO_MATCH"}})
	}
	c.P.Line("Forgot %d host key(s) of %s: the next connection will record the key the server shows then.", n, hp)
	return osh.OK("", map[string]any{hp: map[string]any{"action": "OK_DELETED", "deleted": n}})
}
