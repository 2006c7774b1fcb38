package console

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"gatehouse/internal/audit"
	"gatehouse/internal/store"
)

// Reach is one way an account reaches a server.
type Reach struct {
	Host, User string
	Port       int
	Account    string
	How        string // "personal", "member of group ops", "guest of group ops"
}

// reaches lists who can reach which server and how, from the ACLs: personal entries, the group
// lists times the group's members, and guest entries.
func reaches(ctx context.Context, st store.Store, accounts []store.Account, groups []store.Group) ([]Reach, error) {
	var out []Reach
	add := func(es []store.ACLEntry, account, how string) {
		for _, e := range es {
			out = append(out, Reach{Host: e.Host, User: e.User, Port: e.Port, Account: account, How: how})
		}
	}
	for _, a := range accounts {
		es, err := st.ListACL(ctx, store.ACLPersonal, a.Name, "")
		if err != nil {
			return nil, err
		}
		add(es, a.Name, "personal")
	}
	for _, g := range groups {
		es, err := st.ListACL(ctx, store.ACLGroup, g.Name, "")
		if err != nil {
			return nil, err
		}
		for _, m := range g.Roles[store.RoleMember] {
			add(es, m, "member of group "+g.Name)
		}
		guests, err := st.ListACL(ctx, store.ACLGuest, g.Name, "")
		if err != nil {
			return nil, err
		}
		for _, e := range guests {
			add([]store.ACLEntry{e}, e.Account, "guest of group "+g.Name)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].Account < out[j].Account
	})
	return out, nil
}

func (c *Console) directory(w http.ResponseWriter, r *http.Request, q *request) {
	if !CanBrowseAudit(q.Viewer) {
		_ = c.audit(r.Context(), "web.forbidden", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"path": r.URL.Path}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "Accounts, groups and servers are for auditors and admins.")
		return
	}
	ctx := r.Context()
	accounts, err := c.o.Store.ListAccounts(ctx)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The accounts could not be listed.")
		return
	}
	groups, err := c.o.Store.ListGroups(ctx)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The groups could not be listed.")
		return
	}
	rs, err := reaches(ctx, c.o.Store, accounts, groups)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The access lists could not be read.")
		return
	}
	host := r.URL.Query().Get("host")
	if host != "" {
		kept := rs[:0]
		for _, x := range rs {
			if strings.Contains(x.Host, host) {
				kept = append(kept, x)
			}
		}
		rs = kept
	}
	type groupRow struct {
		Name                               string
		Members, Owners, Gatekeepers, Acls string
		MFA                                string
	}
	var gs []groupRow
	for _, g := range groups {
		gs = append(gs, groupRow{Name: g.Name, MFA: g.MFARequired,
			Members: strings.Join(g.Roles[store.RoleMember], ", "), Owners: strings.Join(g.Roles[store.RoleOwner], ", "),
			Gatekeepers: strings.Join(g.Roles[store.RoleGatekeeper], ", "), Acls: strings.Join(g.Roles[store.RoleAclkeeper], ", ")})
	}
	c.render(w, r, http.StatusOK, "directory.html", q, map[string]any{"Title": "Accounts, groups, servers",
		"Accounts": accounts, "Groups": gs, "Reaches": rs, "Host": host})
}
