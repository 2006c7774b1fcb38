package accessdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/sqlite"
)

// TestLoadIndexFilterKeepsEveryMatch: the entries LoadIndex leaves out in its query (other IPv4
// addresses) never change whoHasAccessTo's answer: for many targets, WhoHasAccess over the
// filtered index equals Decide for every account over the lists loaded per account (Load).
//
// It runs on both stores (each filters in its own SQL), with hosts of every form: addresses,
// prefixes (an IPv4 one written in IPv6), IPv6, names (with a final dot, in capitals).
func TestLoadIndexFilterKeepsEveryMatch(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			var st store.Store
			var err error
			if engine == "postgres" {
				st, err = postgres.Open(ctx, pgtest.Fresh(t))
			} else {
				st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			loadIndexKeepsEveryMatch(t, st)
		})
	}
}

func loadIndexKeepsEveryMatch(t *testing.T, st store.Store) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(14, 9))
	now := time.Now()
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.10", "10.0.0.0/24", "10.0.0.0/31", "0.0.0.0/0", "::/0", "2001:db8::1",
		"2001:db8::/64", "db1.example.org", "192.168.1.1", "1.2.3.4",
		"DB1.Example.org.", "db2.example.org", "::ffff:10.0.0.0/120", "10.0.0.1/32", "2001:db8::1/128", "10.0.0.01", "not a host"}
	var names []string
	for i := range 30 {
		name := fmt.Sprintf("acct%d", i)
		names = append(names, name)
		if err := st.CreateAccount(ctx, store.Account{Name: name, CreatedAt: now, MaxInactiveDays: -1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	entry := func(kind, owner, account string) store.ACLEntry {
		e := store.ACLEntry{Kind: kind, Owner: owner, Account: account, Host: hosts[r.IntN(len(hosts))], User: []string{"", "root", "r*"}[r.IntN(3)], AddedAt: now}
		if r.IntN(3) == 0 {
			e.Port = 22
		}
		return e
	}
	for g := range 8 {
		gn := fmt.Sprintf("g%d", g)
		roles := map[string][]string{store.RoleMember: {names[r.IntN(30)], names[r.IntN(30)]}}
		if err := st.CreateGroup(ctx, store.Group{Name: gn, CreatedAt: now, Roles: roles}); err != nil {
			t.Fatal(err)
		}
		for range 6 {
			if _, err := st.AddACL(ctx, entry(store.ACLGroup, gn, "")); err != nil && !errors.Is(err, store.ErrExists) {
				t.Fatal(err)
			}
		}
		guest := names[r.IntN(30)]
		for range 2 {
			if _, err := st.AddACL(ctx, entry(store.ACLGuest, gn, guest)); err != nil && !errors.Is(err, store.ErrExists) {
				t.Fatal(err)
			}
		}
		st.SetRole(ctx, gn, store.RoleGuest, guest, true)
	}
	for _, n := range names[:15] {
		if _, err := st.AddACL(ctx, entry(store.ACLPersonal, n, "")); err != nil && !errors.Is(err, store.ErrExists) {
			t.Fatal(err)
		}
	}
	matched := 0
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "1.2.3.4", "2001:db8::1", "::ffff:10.0.0.1", "9.9.9.9"} {
		for _, user := range []string{"root", "admin"} {
			tg := access.Target{User: user, Host: "db1.example.org", IP: netip.MustParseAddr(ip), Port: 22}
			idx, _, err := LoadIndex(ctx, st, tg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for a, gs := range access.WhoHasAccess(now, idx, tg) {
				for _, g := range gs {
					got[a] = append(got[a], g.Group+string(g.Kind)+g.Entry.Host)
				}
			}
			want := map[string][]string{}
			for _, n := range names {
				a, _ := st.GetAccount(ctx, n)
				in, err := Load(ctx, st, a)
				if err != nil {
					t.Fatal(err)
				}
				d, err := access.Decide(now, access.Account{Name: n}, in.Groups, in.Personal, tg)
				if err != nil {
					continue
				}
				for _, g := range d.Grants {
					want[n] = append(want[n], g.Group+string(g.Kind)+g.Entry.Host)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("target %v as %s:\nindex  %v\ndecide %v", ip, user, got, want)
			}
			matched += len(want)
		}
	}
	if matched < 20 {
		t.Fatalf("only %d accounts matched: the state does not exercise the lists", matched)
	}
}
