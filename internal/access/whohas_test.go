package access

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// randomState makes a bastion's lists small enough that targets often match: hosts from a few
// addresses, prefixes (/0 catch-alls included) and names; users with wildcards; ports; some
// entries expired; accounts that are members, guests, both, listed twice, or unknown.
func randomState(r *rand.Rand, now time.Time) Index {
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.0/24", "10.0.0.0/30", "10.0.0.0/8", "0.0.0.0/0", "::/0",
		"2001:db8::1", "2001:db8::/64", "db1.example.org", "DB1.example.org", "web.example.org", "192.168.1.1"}
	users := []string{"", "*", "root", "deploy", "r*", "d?ploy", "admin"}
	entry := func() Entry {
		e := Entry{Host: hosts[r.IntN(len(hosts))], User: users[r.IntN(len(users))], Comment: fmt.Sprint(r.IntN(1000))}
		if r.IntN(3) == 0 {
			e.Port = []int{22, 2222, 443}[r.IntN(3)]
		}
		if r.IntN(5) == 0 {
			e.Expiry = now.Add(time.Duration(r.IntN(3)-1) * time.Hour) // past, now or later
		}
		return e
	}
	list := func(max int) []Entry {
		n := r.IntN(max + 1)
		out := make([]Entry, n)
		for i := range out {
			out[i] = entry()
		}
		return out
	}
	var idx Index
	nAcc := 1 + r.IntN(12)
	for i := 0; i < nAcc; i++ {
		idx.Accounts = append(idx.Accounts, fmt.Sprintf("acct%d", i))
	}
	idx.Accounts = append(idx.Accounts, "Bad Name!") // invalid: Decide refuses it, so no answer
	pick := func() string {
		if r.IntN(10) == 0 {
			return "ghost" // in a list, not an account
		}
		return idx.Accounts[r.IntN(len(idx.Accounts))]
	}
	idx.Personal = map[string][]Entry{}
	for i := 0; i < r.IntN(6); i++ {
		idx.Personal[pick()] = list(3)
	}
	for i := 0; i < r.IntN(6); i++ {
		g := Group{Name: fmt.Sprintf("g%d", r.IntN(5)), Servers: list(4), Guests: map[string][]Entry{}}
		for j := 0; j < r.IntN(4); j++ {
			g.Members = append(g.Members, pick())
		}
		for j := 0; j < r.IntN(4); j++ {
			g.Guests[pick()] = list(2)
		}
		idx.Groups = append(idx.Groups, g)
	}
	return idx
}

// TestWhoHasAccessMatchesDecide: on 20,000 random states and targets, WhoHasAccess gives exactly
// what calling Decide for each account gives (the accounts, and each one's grants in order).
func TestWhoHasAccessMatchesDecide(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 5))
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	ips := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.9.9.9", "2001:db8::1", "2001:db9::1", "192.168.1.1", "::ffff:10.0.0.1"}
	names := []string{"", "db1.example.org", "db1.example.org.", "web.example.org", "other.example.org"}
	matched := 0
	for i := 0; i < 20000; i++ {
		idx := randomState(r, now)
		tg := Target{User: []string{"root", "deploy", "admin", "x"}[r.IntN(4)], IP: netip.MustParseAddr(ips[r.IntN(len(ips))]),
			Port: []int{22, 2222, 443}[r.IntN(3)], Host: names[r.IntN(len(names))]}
		if r.IntN(50) == 0 {
			tg.Port = 0 // invalid: nobody
		}
		if tg.Host == "" {
			tg.Host = tg.IP.String()
		}
		want := map[string][]Grant{}
		for _, a := range idx.Accounts {
			d, err := Decide(now, Account{Name: a}, idx.Groups, idx.Personal[a], tg)
			if err != nil {
				continue
			}
			for _, g := range d.Grants {
				want[a] = append(want[a], Grant{Kind: g.Kind, Group: g.Group, Entry: g.Entry, CatchAll: g.CatchAll})
			}
		}
		got := WhoHasAccess(now, idx, tg)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("state %d, target %+v:\nWhoHasAccess %v\nDecide       %v\nstate %+v", i, tg, got, want, idx)
		}
		matched += len(want)
	}
	if matched < 5000 {
		t.Fatalf("only %d accounts matched over all states: the states do not exercise the lists", matched)
	}
}
