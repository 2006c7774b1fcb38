package access

import (
	"slices"
	"strings"
	"time"
)

// Index is every access list of the bastion at once, for the reverse question: who may reach a
// target? (whoHasAccessTo). It is loaded in a few queries (accessdb.LoadIndex), not per account.
type Index struct {
	Accounts []string           // every account
	Groups   []Group            // Name, Servers, Members and Guests are read
	Personal map[string][]Entry // personal accesses, by account
}

// WhoHasAccess returns, for every account of idx that Decide would let reach t, the grants
// Decide would give it, in Decide's order (personal first, then groups by name), with Kind,
// Group, Entry and CatchAll set. The answers are Decide's for Account{Name: name} (the lists
// whatever the account's state), but it is computed from the lists that match t: each group's
// servers are matched once, then only their members and guests are looked at, so its cost
// grows with the lists, not with accounts × groups. An invalid target gives no account.
func WhoHasAccess(now time.Time, idx Index, t Target) map[string][]Grant {
	out := map[string][]Grant{}
	t, err := checkTarget(t)
	if err != nil {
		return out
	}
	known := make(map[string]bool, len(idx.Accounts))
	for _, a := range idx.Accounts {
		if ValidateAccountName(a) == nil {
			known[a] = true
		}
	}
	for a, list := range idx.Personal {
		if !known[a] {
			continue
		}
		if e, bits, ok := bestMatch(now, list, t); ok {
			out[a] = append(out[a], Grant{Kind: KindPersonal, Entry: e, CatchAll: bits == 0})
		}
	}
	sorted := slices.Clone(idx.Groups)
	slices.SortStableFunc(sorted, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range sorted {
		ge, gbits, ok := bestMatch(now, g.Servers, t)
		if !ok {
			continue
		}
		// Decide looks at each group once per account: one grant per account and group, even
		// when a group lists an account twice (two groups of one name each give theirs).
		granted := map[string]bool{}
		for _, m := range g.Members {
			if !known[m] || granted[m] {
				continue
			}
			granted[m] = true
			out[m] = append(out[m], Grant{Kind: KindGroupMember, Group: g.Name, Entry: ge, CatchAll: gbits == 0})
		}
		guests := make([]string, 0, len(g.Guests))
		for a := range g.Guests {
			guests = append(guests, a)
		}
		slices.Sort(guests)
		for _, a := range guests {
			if !known[a] || granted[a] {
				continue
			}
			if e, bits, ok := bestMatch(now, g.Guests[a], t); ok {
				granted[a] = true
				out[a] = append(out[a], Grant{Kind: KindGroupGuest, Group: g.Name, Entry: e, CatchAll: bits == 0})
			}
		}
	}
	return out
}
