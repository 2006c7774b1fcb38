package restricted

import (
	"context"
	"errors"
	"net"
	"sort"
	"strings"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// RegisterGroups adds the restricted commands about groups and accesses to r. Personal accesses
// are restricted, even one's own, as in The Bastion: an account reaches a server personally only
// when someone granted selfAddPersonalAccess (or an admin) says so.
func RegisterGroups(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "groupCreate", Category: osh.Restricted, Summary: "create a group, with its owner and its egress key",
			Options: []osh.Option{
				{Name: "group", Kind: osh.String, Help: "the group name (at most 18 characters)"},
				{Name: "owner", Kind: osh.String, Help: "the existing account that will own the group (can be you)"},
				{Name: "algo", Kind: osh.String, Help: "egress key algorithm: ed25519 (default), ecdsa or rsa"},
				{Name: "size", Kind: osh.Int, Help: "key size in bits (ecdsa 256/384/521, rsa 2048-8192)"},
				{Name: "no-key", Kind: osh.Flag, Help: "create the group without an egress key"},
				{Name: "encrypted", Kind: osh.Flag, Help: "refused: gatehouse seals every private key itself"},
			}, Run: groupCreate},
		&osh.Command{Name: "selfAddPersonalAccess", Category: osh.Restricted, Summary: "let yourself reach a server with your own egress key",
			Options: common.AddACLOptions(), Run: personalAccess(true, true)},
		&osh.Command{Name: "selfDelPersonalAccess", Category: osh.Restricted, Summary: "remove one of your personal accesses",
			Options: common.ACLOptions(), Run: personalAccess(true, false)},
		&osh.Command{Name: "accountAddPersonalAccess", Category: osh.Restricted, Summary: "let an account reach a server with its own egress key",
			Options: common.AddACLOptions(accountOpt), Run: personalAccess(false, true)},
		&osh.Command{Name: "accountDelPersonalAccess", Category: osh.Restricted, Summary: "remove a personal access of an account",
			Options: common.ACLOptions(accountOpt), Run: personalAccess(false, false)},
		&osh.Command{Name: "accountListAccesses", Category: osh.Restricted, Summary: "the servers an account may reach, personally and through groups",
			Options: append([]osh.Option{accountOpt}, common.AccessListOptions...), Run: accountListAccesses},
		&osh.Command{Name: "whoHasAccessTo", Category: osh.Restricted, Summary: "the accounts that may reach a server, and how",
			Options: []osh.Option{
				{Name: "host", Kind: osh.String, Help: "the server's IP or host name"},
				{Name: "user", Kind: osh.String, Help: "only accesses allowing this remote user (default: any)"},
				{Name: "port", Kind: osh.String, Help: "only accesses allowing this port (default: any)"},
				{Name: "ignore-personal", Kind: osh.Flag, Help: "only look at groups"},
				{Name: "ignore-group", Kind: osh.Multi, Help: "ignore the accesses given by this group"},
				{Name: "show-wildcards", Kind: osh.Flag, Help: "also show accesses that only match through 0.0.0.0/0"},
			}, Run: whoHasAccessTo},
		&osh.Command{Name: "groupDelete", Category: osh.Restricted, Summary: "delete any group, its servers, guests and keys (owners use groupDestroy)", ReadsStdin: true,
			Options: []osh.Option{{Name: "group", Kind: osh.String, Help: "the group to delete"},
				{Name: "no-confirm", Kind: osh.Flag, Help: "do not ask to type the group name"}},
			Run: groupDelete},
		&osh.Command{Name: "assetForgetHostKey", Category: osh.Restricted, Summary: "forget a server's host key for every account (after a legitimate change)",
			Options: common.HostPortOptions, Run: assetForgetHostKey},
	)
}

func groupCreate(ctx context.Context, c *osh.Call) osh.Result {
	name := c.Args.String("group")
	if name == "" || !c.Args.Has("owner") {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Group name or owner is missing: give --group GROUP --owner ACCOUNT")
	}
	if err := access.ValidateGroupName(name); err != nil {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "%v", err)
	}
	noKey := c.Args.Has("no-key")
	algo, size := c.Args.String("algo"), c.Args.Int("size")
	switch {
	case c.Args.Has("encrypted"):
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--encrypted is not supported: gatehouse seals every egress private key with its own key")
	case noKey && (c.Args.Has("algo") || c.Args.Has("size")):
		return osh.Fail("", "ERR_INVALID_PARAMETER", "--no-key cannot be combined with --algo or --size")
	case !noKey:
		if algo == "" {
			algo = "ed25519"
		}
		if r := common.CheckKeyAlgo(algo, size); r != nil {
			return *r
		}
	}
	owner, r := common.LoadAccount(ctx, c, "owner")
	if r != nil {
		return *r
	}
	// The Bastion's owner holds every role of the new group, so they can run it alone at first.
	one := []string{owner.Name}
	g := store.Group{Name: name, CreatedAt: c.Now().UTC(), CreatedBy: c.Caller().Name, IdleLockTimeout: -1, IdleKillTimeout: -1,
		Roles: map[string][]string{store.RoleOwner: one, store.RoleGatekeeper: one, store.RoleAclkeeper: one, store.RoleMember: one}}
	err := c.Env.Store.CreateGroup(ctx, g)
	if errors.Is(err, store.ErrExists) {
		return osh.Fail("", "KO_ALREADY_EXISTING", "The group %s already exists", name)
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot create group %s: %v", name, err)
	}
	value := map[string]any{"group": name, "owner": owner.Name}
	if noKey {
		c.P.Line("Group creation complete! It has no egress key yet: its owner may run groupGenerateEgressKey.")
		return osh.OK("", value)
	}
	k, err := common.NewEgressKey(ctx, c, "group", name, algo, size)
	if err != nil {
		// A group whose key could not be made is removed, so the command can simply be run again.
		if derr := c.Env.Store.DeleteGroup(ctx, name); derr != nil {
			return osh.Fail("", "ERR_INTERNAL", "group %s was created but its key could not be generated (%v) nor the group removed (%v): delete it with groupDestroy", name, err, derr)
		}
		return osh.Fail("", "ERR_INTERNAL", "cannot generate the egress key of %s, the group was not created: %v", name, err)
	}
	c.P.Line("Group creation complete! The public key of this group is:")
	value["public_key"] = common.GroupKeyValue(c.P, k, c.Cfg().EgressKeysFrom)
	return osh.OK("", value)
}

// personalAccess adds or removes a personal access of the caller (self) or of --account.
func personalAccess(self, add bool) func(context.Context, *osh.Call) osh.Result {
	return func(ctx context.Context, c *osh.Call) osh.Result {
		spec, r := common.ParseACL(c, add, true)
		if r != nil {
			return *r
		}
		for _, opt := range []string{"forward", "remote-forward"} {
			if self && add && c.Args.Has(opt) {
				// A forward uses no key on the target: given to oneself it would open the bastion
				// as a proxy to anything. A remote forward opens a port on the target to the
				// client's side. Someone else grants them (accountAddPersonalAccess,
				// groupAddServer), issue 12.
				return *common.Failure("ERR_ACCESS_DENIED", "--%s cannot be given to yourself: ask for it (accountAddPersonalAccess, or a group's groupAddServer)", opt)
			}
		}
		name := c.Caller().Name
		if !self {
			a, r := common.LoadAccount(ctx, c, "account")
			if r != nil {
				return *r
			}
			if r := common.MayChange(c, a, access.AccountChange{Kind: access.ChangePersonalAccess}); r != nil {
				return *r
			}
			name = a.Name
		}
		if add {
			if r := common.ResolveHost(ctx, c, &spec); r != nil {
				return *r
			}
			if r := common.TestConnection(ctx, c, store.ACLPersonal, name, spec, c.Args.Has("force")); r != nil {
				return *r
			}
		}
		now := c.Now()
		e := spec.Entry(store.ACLPersonal, name, "", c.Caller().Name, now)
		v := spec.Value()
		v["account"] = name
		if add {
			added, err := common.AddACL(ctx, c.Env.Store, e, now)
			if err != nil {
				return osh.Fail("", "ERR_INTERNAL", "cannot add the personal access: %v", err)
			}
			if !added {
				msg := name + " already has a personal access to " + spec.Machine() + ", nothing to do"
				c.P.Line("%s", msg)
				return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
			}
			c.P.Line("Access to %s added to account %s, with its personal egress key (see selfListEgressKeys).", spec.Machine(), name)
			if spec.TTL > 0 {
				c.P.Line("This access expires in %s.", spec.TTL)
			}
			return osh.OK("", v)
		}
		err := c.Env.Store.DeleteACL(ctx, e)
		if errors.Is(err, store.ErrNotFound) {
			msg := name + " has no personal access to " + spec.Machine() + ", nothing to do"
			c.P.Line("%s", msg)
			return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
		}
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot remove the personal access: %v", err)
		}
		c.P.Line("Personal access to %s removed from account %s.", spec.Machine(), name)
		delete(v, "ttl")
		delete(v, "comment")
		return osh.OK("", v)
	}
}

func accountListAccesses(ctx context.Context, c *osh.Call) osh.Result {
	a, r := common.LoadAccount(ctx, c, "account")
	if r != nil {
		return *r
	}
	filter, r := common.AccessFilterOf(ctx, c)
	if r != nil {
		return *r
	}
	in, err := accessdb.Load(ctx, c.Env.Store, a)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot load the accesses of %s: %v", a.Name, err)
	}
	value, n := common.AccessesValue(c.P, in, c.Now(), filter)
	if n == 0 {
		return osh.Result{Code: "OK_EMPTY", Message: "Account " + a.Name + " has no registered accesses to machines through this bastion"}
	}
	c.P.Line("")
	c.P.Line("%d accesses listed", n)
	return osh.OK("", value)
}

func assetForgetHostKey(ctx context.Context, c *osh.Call) osh.Result {
	host, port, hp, r := common.ParseHostPort(c)
	if r != nil {
		return *r
	}
	n, err := c.Env.Store.ForgetHost(ctx, "", hp)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot forget the host key: %v", err)
	}
	value := map[string]any{"host": host, "port": port, "hostport": hp, "deleted": n, "changed_files": n} // changed_files: The Bastion's name
	if n == 0 {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "No account had a host key recorded for " + hp + ", nothing to forget", Value: value}
	}
	c.P.Line("Forgot %d recorded host key(s) of %s, for every account.", n, hp)
	return osh.OK("", value)
}

// anyUserOrPort returns groups and personal lists where the user (and/or port) of every entry is
// cleared, so that Decide answers "whatever the user (port)" as whoHasAccessTo does without
// --user (--port).
func anyUserOrPort(entries []access.Entry, user, port bool) []access.Entry {
	out := make([]access.Entry, len(entries))
	for i, e := range entries {
		if user {
			e.User = ""
		}
		if port {
			e.Port = 0
		}
		out[i] = e
	}
	return out
}

func whoHasAccessTo(ctx context.Context, c *osh.Call) osh.Result {
	hostArg := c.Args.String("host")
	if hostArg == "" {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter --host")
	}
	h, err := access.ParseHost(hostArg)
	if err != nil || h.Kind == access.HostPrefix {
		return osh.Fail("", "KO_INVALID_IP", "--host must be the IP or the name of one server, got %q", hostArg)
	}
	ip := h.Prefix.Addr()
	if h.Kind == access.HostName {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", h.Name)
		cancel()
		if err != nil || len(addrs) == 0 {
			return osh.Fail("", "KO_HOST_NOT_FOUND", "Unable to resolve host %s (%v)", h.Name, err)
		}
		ip = addrs[0].Unmap()
	}
	user, port := c.Args.String("user"), 22
	if user != "" {
		if err := access.ValidateRemoteUser(user, false); err != nil {
			return osh.Fail("", "KO_INVALID_REMOTE_USER", "%v", err)
		}
	}
	if c.Args.Has("port") {
		if port, err = access.ValidatePort(c.Args.String("port")); err != nil {
			return osh.Fail("", "KO_INVALID_PORT", "%v", err)
		}
	}
	anyUser, anyPort := user == "", !c.Args.Has("port")
	if anyUser {
		user = "root" // any valid name: every entry's user was cleared
	}
	target := access.Target{User: user, Host: hostArg, IP: ip, Port: port}

	// One index of every list (a few queries), matched once against the target: the same
	// answers as deciding for every account, without its cost (issue 14).
	idx, accounts, err := accessdb.LoadIndex(ctx, c.Env.Store, target)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "%v", err)
	}
	ignored := map[string]bool{}
	for _, g := range c.Args.All("ignore-group") {
		ignored[g] = true
	}
	var groups []access.Group
	for _, g := range idx.Groups {
		if ignored[g.Name] {
			continue
		}
		g.Servers = anyUserOrPort(g.Servers, anyUser, anyPort)
		guests := map[string][]access.Entry{}
		for a, l := range g.Guests {
			guests[a] = anyUserOrPort(l, anyUser, anyPort)
		}
		g.Guests = guests
		groups = append(groups, g)
	}
	idx.Groups = groups
	if c.Args.Has("ignore-personal") {
		idx.Personal = nil
	}
	for a, l := range idx.Personal {
		idx.Personal[a] = anyUserOrPort(l, anyUser, anyPort)
	}
	sort.Slice(accounts, func(i, j int) bool { return accounts[i].Name < accounts[j].Name })
	c.P.Line("IMPORTANT: this is what the bastion's lists say; a server only lets in the keys installed on it.")
	now := c.Now()
	holders := access.WhoHasAccess(now, idx, target)
	value := map[string]any{}
	for _, a := range accounts {
		// The lists are judged whatever the account's state; can_connect says whether it may use them now.
		grants, ok := holders[a.Name]
		if !ok {
			continue
		}
		byPersonal, byGroups := 0, []string{}
		for _, g := range grants {
			if g.CatchAll && !c.Args.Has("show-wildcards") {
				continue
			}
			if g.Kind == access.KindPersonal {
				byPersonal = 1
			} else {
				byGroups = append(byGroups, g.Group+"("+string(g.Kind)+")")
			}
		}
		if byPersonal == 0 && len(byGroups) == 0 {
			continue
		}
		canConnect := !a.Frozen && !a.OshOnly && (a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt))
		value[a.Name] = map[string]any{"personal_access": byPersonal, "group_access": byGroups, "can_connect": common.Bool(canConnect)}
		how := ""
		switch {
		case byPersonal == 1 && len(byGroups) > 0:
			how = "by his personal key and by the following groups: " + strings.Join(byGroups, " ")
		case byPersonal == 1:
			how = "by his personal key only"
		default:
			how = "by the following groups: " + strings.Join(byGroups, " ")
		}
		note := ""
		if !canConnect {
			note = " (but the account cannot connect now: frozen, expired or osh-only)"
		}
		c.P.Line("%s has access %s%s", a.Name, how, note)
	}
	return osh.OK("", value)
}

// groupDelete is The Bastion's restricted groupDelete: an account granted it deletes any group,
// owner or not; the JSON names groupDelete, not groupDestroy.
func groupDelete(ctx context.Context, c *osh.Call) osh.Result {
	g, r := common.LoadGroup(ctx, c)
	if r != nil {
		return *r
	}
	return common.DeleteGroup(ctx, c, g)
}
