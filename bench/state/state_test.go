package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/app"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/open"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
)

// TestListingsAnswerAsPerAccountReads: the commands that read the whole bastion at once (issue
// 14) answer what the per-account and per-group commands and reads answer, on bench/state's
// varied state, on SQLite and on PostgreSQL:
//   - accountInfo --all [--without-groups]: each account's value is accountInfo --account's;
//   - groupInfo --all: each group's value is groupInfo --group's;
//   - groupList [--all]: the flags are the caller's roles in each group (GetGroup);
//   - info: the admins and super-owners are those of every account read in full;
//   - accountList: each account and its activeness are accountList --audit's;
//   - whoHasAccessTo: the accounts and groups are Decide's for every account, over the lists
//     loaded per account (accessdb.Load), for a set of targets.
func TestListingsAnswerAsPerAccountReads(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			storeURL := ""
			if engine == "postgres" {
				storeURL = pgtest.Fresh(t)
			}
			ctx := context.Background()
			a, err := app.Open(ctx, app.Options{DataDir: filepath.Join(t.TempDir(), "data"), Store: storeURL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if _, err := a.CreateFirstAdmin(ctx, "admin", ""); err != nil {
				t.Fatal(err)
			}
			const n = 120
			if err := build(ctx, a.Store, n); err != nil {
				t.Fatal(err)
			}
			if err := vary(ctx, a.Store, n); err != nil {
				t.Fatal(err)
			}
			checkListings(t, a, n)
		})
	}
}

func checkListings(t *testing.T, a *app.App, n int) {
	ctx := context.Background()
	run := func(who string, args ...string) (string, any) {
		t.Helper()
		acct, err := a.Store.GetAccount(ctx, who)
		if err != nil {
			t.Fatal(err)
		}
		s := &osh.Session{ID: "test", Account: acct, Roles: osh.RolesOf(acct), In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
		s.Reload = func(ctx context.Context) error { return nil }
		r := a.Env.Run(ctx, s, args[0], args[1:], true)
		// Through JSON, as a client reads it: []string and []any, int and float64 compare alike.
		b, err := json.Marshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return r.Code, v
	}
	all, err := a.Store.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := a.Store.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n+1 || len(groups) != n/10 {
		t.Fatalf("%d accounts, %d groups", len(all), len(groups))
	}
	strip := func(v any) any { // "ago" counts seconds from the call: not the same on two calls
		m, _ := v.(map[string]any)
		if la, ok := m["last_activity"].(map[string]any); ok {
			delete(la, "ago")
		}
		return v
	}
	for _, opts := range [][]string{nil, {"--without-groups"}, {"--with-mfa-password-info"}, {"--with-everything"}, {"--with-egress-keys", "--without-groups"}} {
		code, every := run("admin", append([]string{"accountInfo", "--all"}, opts...)...)
		m, ok := every.(map[string]any)
		if !ok {
			t.Fatalf("accountInfo --all %v: %s %v", opts, code, every)
		}
		if len(m) != len(all) {
			t.Fatalf("accountInfo --all %v: %d accounts of %d", opts, len(m), len(all))
		}
		for _, acct := range all {
			_, one := run("admin", append([]string{"accountInfo", "--account", acct.Name}, opts...)...)
			if got := strip(m[acct.Name]); !reflect.DeepEqual(got, strip(one)) {
				t.Fatalf("accountInfo --all %v for %s:\n%v\naccountInfo --account:\n%v", opts, acct.Name, got, one)
			}
		}
	}
	_, every := run("admin", "groupInfo", "--all")
	for _, g := range groups {
		_, one := run("admin", "groupInfo", "--group", g.Name)
		if got := every.(map[string]any)[g.Name]; !reflect.DeepEqual(got, one) {
			t.Fatalf("groupInfo --all for %s:\n%v\ngroupInfo --group:\n%v", g.Name, got, one)
		}
	}
	for _, who := range []string{"admin", "a1", "a21", "a42"} {
		for _, withAll := range []bool{false, true} {
			want := map[string]any{}
			for _, g := range groups {
				var flags []any
				for _, role := range []string{store.RoleOwner, store.RoleGatekeeper, store.RoleAclkeeper, store.RoleMember, store.RoleGuest} {
					if g.Has(role, who) {
						flags = append(flags, role)
					}
				}
				if len(flags) == 0 && withAll {
					flags = []any{"no-access"}
				}
				if len(flags) > 0 {
					want[g.Name] = map[string]any{"flags": flags}
				}
			}
			args := []string{"groupList"}
			if withAll {
				args = append(args, "--all")
			}
			code, got := run(who, args...)
			if len(want) == 0 {
				if code != "OK_EMPTY" {
					t.Fatalf("%s %v: %s %v, want OK_EMPTY", who, args, code, got)
				}
				continue
			}
			if !reflect.DeepEqual(got, any(want)) {
				t.Fatalf("%s %v:\n%v\nwant\n%v", who, args, got, want)
			}
		}
	}
	admins, superOwners := open.AdminLists(all)
	_, info := run("admin", "info")
	im := info.(map[string]any)
	if fmtList(im["adminAccounts"]) != strings.Join(admins, ",") || fmtList(im["superOwnerAccounts"]) != strings.Join(superOwners, ",") || len(admins) < 3 || len(superOwners) < 3 {
		t.Fatalf("info: admins %v super-owners %v, want %v %v", im["adminAccounts"], im["superOwnerAccounts"], admins, superOwners)
	}
	_, list := run("admin", "accountList")
	_, audit := run("admin", "accountList", "--audit")
	lm, am := list.(map[string]any), audit.(map[string]any)
	if len(lm) != len(all) || len(am) != len(all) {
		t.Fatalf("accountList %d, --audit %d, accounts %d", len(lm), len(am), len(all))
	}
	inactive := 0
	for name, v := range lm {
		if v.(map[string]any)["is_active"] != am[name].(map[string]any)["is_active"] {
			t.Fatalf("accountList says %v of %s, --audit %v", v, name, am[name].(map[string]any)["is_active"])
		}
		if v.(map[string]any)["is_active"] == float64(0) {
			inactive++
		}
	}
	if inactive == 0 {
		t.Fatal("no inactive account: the state does not exercise accountList")
	}
	// accountList --audit's keys that accountInfo also gives say the same (issue 14: the factors
	// were 0 for every account, always_active_reason held why an account was inactive), and its
	// password_* keys are accountInfo --with-mfa-password-info's password.
	configured := 0
	for _, acct := range all {
		row := am[acct.Name].(map[string]any)
		_, one := run("admin", "accountInfo", "--account", acct.Name, "--with-mfa-password-info")
		info := one.(map[string]any)
		for _, k := range []string{"mfa_password_configured", "mfa_totp_configured", "always_active", "always_active_reason", "is_active", "can_connect", "is_expired"} {
			if !reflect.DeepEqual(row[k], info[k]) {
				t.Fatalf("accountList --audit's %s of %s is %v, accountInfo's %v", k, acct.Name, row[k], info[k])
			}
		}
		for k, x := range info["password"].(map[string]any) {
			if !reflect.DeepEqual(row["password_"+k], x) {
				t.Fatalf("accountList --audit's password_%s of %s is %v, accountInfo's password %v", k, acct.Name, row["password_"+k], x)
			}
		}
		if row["mfa_password_configured"] == float64(1) || row["mfa_totp_configured"] == float64(1) {
			configured++
		}
		if ts, _ := row["last_activity_timestamp"].(float64); ts == 0 || !strings.Contains(row["last_activity"].(string), " ago)") {
			t.Fatalf("accountList --audit's last activity of %s: %v %v", acct.Name, row["last_activity"], row["last_activity_timestamp"])
		}
	}
	if configured == 0 {
		t.Fatal("no account with a second factor: the state does not exercise accountList --audit")
	}
	_, bare := run("admin", "accountList", "--audit", "--no-password-info")
	for name, v := range bare.(map[string]any) {
		for k := range v.(map[string]any) {
			if strings.HasPrefix(k, "password_") {
				t.Fatalf("accountList --audit --no-password-info gives %s of %s", k, name)
			}
		}
	}
	checkWhoHasAccess(t, a, all, run)
}

func fmtList(v any) string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return strings.Join(out, ",")
}

// checkWhoHasAccess compares whoHasAccessTo with Decide for every account.
func checkWhoHasAccess(t *testing.T, a *app.App, all []store.Account, run func(string, ...string) (string, any)) {
	ctx := context.Background()
	inputs := map[string]accessdb.Inputs{}
	for _, acct := range all {
		in, err := accessdb.Load(ctx, a.Store, acct)
		if err != nil {
			t.Fatal(err)
		}
		inputs[acct.Name] = in
	}
	matched := 0
	for _, host := range []string{"10.1.0.3", "10.0.0.1", "10.0.0.77", "10.2.3.4", "192.168.7.7", "2001:db8::5", "1.1.1.1"} {
		// (Host names are resolved by the command: the loader's test, in accessdb, has names.)
		for _, ut := range []struct {
			user string
			port int
		}{{"root", 22}, {"deploy", 2222}, {"rx", 22}} {
			_, got := run("admin", "whoHasAccessTo", "--host", host, "--user", ut.user, "--port", strconv.Itoa(ut.port), "--show-wildcards")
			gm, _ := got.(map[string]any)
			tg := access.Target{User: ut.user, Host: host, IP: netip.MustParseAddr(host), Port: ut.port}
			want := map[string]any{}
			for _, acct := range all {
				in := inputs[acct.Name]
				d, err := access.Decide(time.Now(), access.Account{Name: acct.Name}, in.Groups, in.Personal, tg)
				if err != nil {
					continue
				}
				personal, byGroups := 0.0, []any{}
				for _, g := range d.Grants {
					if g.Kind == access.KindPersonal {
						personal = 1
					} else {
						byGroups = append(byGroups, g.Group+"("+string(g.Kind)+")")
					}
				}
				want[acct.Name] = map[string]any{"personal_access": personal, "group_access": byGroups}
			}
			for name, v := range gm {
				delete(v.(map[string]any), "can_connect")
				gm[name] = v
			}
			if !reflect.DeepEqual(any(gm), any(want)) && !(len(gm) == 0 && len(want) == 0) {
				t.Fatalf("whoHasAccessTo %s as %s:%d:\n%v\nDecide:\n%v", host, ut.user, ut.port, gm, want)
			}
			matched += len(want)
		}
	}
	if matched < 30 {
		t.Fatalf("only %d accesses matched: the state does not exercise whoHasAccessTo", matched)
	}
}

// perRowCalls counts the store calls that read one account or one group: a listing command
// that makes them for every account or group grows with the bastion (issue 14).
type perRowCalls struct {
	store.Store
	n int
}

func (c *perRowCalls) GetAccount(ctx context.Context, name string) (store.Account, error) {
	c.n++
	return c.Store.GetAccount(ctx, name)
}

func (c *perRowCalls) GetMFA(ctx context.Context, account string) (store.MFACredentials, error) {
	c.n++
	return c.Store.GetMFA(ctx, account)
}

func (c *perRowCalls) GroupsOf(ctx context.Context, account string) ([]store.Group, error) {
	c.n++
	return c.Store.GroupsOf(ctx, account)
}

func (c *perRowCalls) GetGroup(ctx context.Context, name string) (store.Group, error) {
	c.n++
	return c.Store.GetGroup(ctx, name)
}

func (c *perRowCalls) ListACL(ctx context.Context, kind, owner, account string) ([]store.ACLEntry, error) {
	c.n++
	return c.Store.ListACL(ctx, kind, owner, account)
}

func (c *perRowCalls) ListEgressKeys(ctx context.Context, kind, owner string) ([]store.EgressKey, error) {
	c.n++
	return c.Store.ListEgressKeys(ctx, kind, owner)
}

// TestListingsReadsDoNotGrowWithAccounts: each listing command makes as many per-account and
// per-group store reads at 200 accounts as at 50 (on main, accountInfo --all read every
// account's groups and factors one by one, groupInfo --all every group's keys).
func TestListingsReadsDoNotGrowWithAccounts(t *testing.T) {
	cmds := [][]string{{"info"}, {"accountList"}, {"accountList", "--audit"}, {"accountInfo", "--all"},
		{"accountInfo", "--all", "--with-mfa-password-info"}, {"accountInfo", "--all", "--with-everything"},
		{"accountList", "--audit", "--no-password-info"}, {"accountList", "--inactive-only"}, {"groupList"},
		{"groupList", "--all"}, {"groupInfo", "--all"}, {"whoHasAccessTo", "--host", "10.0.0.3"}, {"whoHasAccessTo", "--host", "10.0.0.3", "--user", "root", "--port", "22"}}
	calls := map[int][]int{}
	for _, n := range []int{50, 200} {
		ctx := context.Background()
		a, err := app.Open(ctx, app.Options{DataDir: filepath.Join(t.TempDir(), "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.CreateFirstAdmin(ctx, "admin", ""); err != nil {
			t.Fatal(err)
		}
		if err := build(ctx, a.Store, n); err != nil {
			t.Fatal(err)
		}
		if err := vary(ctx, a.Store, n); err != nil {
			t.Fatal(err)
		}
		counting := &perRowCalls{Store: a.Env.Store}
		a.Env.Store = counting
		admin, err := a.Store.GetAccount(ctx, "admin")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			s := &osh.Session{ID: "test", Account: admin, Roles: osh.RolesOf(admin), In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
			s.Reload = func(ctx context.Context) error { return nil }
			counting.n = 0
			if r := a.Env.Run(ctx, s, c[0], c[1:], true); !strings.HasPrefix(r.Code, "OK") {
				t.Fatalf("%v: %s %s", c, r.Code, r.Message)
			}
			calls[n] = append(calls[n], counting.n)
		}
	}
	for i, c := range cmds {
		if calls[50][i] != calls[200][i] {
			t.Errorf("%v: %d per-account or per-group reads at 50 accounts, %d at 200", c, calls[50][i], calls[200][i])
		}
	}
}
