package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

func keysOf(v any) string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// TestListIncludeExclude: accountList and groupListServers take The Bastion's --include and
// --exclude (wildcards, plain words as "contains", repeatable, --exclude first), in the human
// lines and in JSON.
func TestListIncludeExclude(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	for _, n := range []string{"web-alice", "web-bob", "db-carol", "dave"} {
		b.MustOK("--osh", "accountCreate", "--account", n, "--no-key")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--include", "web"}, "web-alice web-bob"},
		{[]string{"--include", "web-*"}, "web-alice web-bob"},
		{[]string{"--include", "'?ave'"}, "dave"},
		{[]string{"--include", "web", "--include", "carol"}, "db-carol web-alice web-bob"},
		{[]string{"--include", "web", "--exclude", "bob"}, "web-alice"},
		{[]string{"--exclude", "a", "--exclude", "web*"}, ""}, // admin, dave, db-carol all contain an a
		{[]string{"--include", "WEB"}, ""},                    // case-sensitive, as The Bastion
	} {
		r := b.Admin(append([]string{"--json-greppable", "--osh", "accountList"}, tc.args...)...)
		if got := keysOf(r.JSON()["value"]); got != tc.want {
			t.Errorf("accountList %v = %q, want %q\n%s", tc.args, got, tc.want, r.Stdout)
		}
		for _, n := range strings.Fields(tc.want) {
			if !strings.Contains(r.Stdout, n) {
				t.Errorf("accountList %v: %s not printed", tc.args, n)
			}
		}
	}
	if r := b.Admin("--json-greppable", "--osh", "accountList", "--include", strings.Repeat("x", 300)); r.Code() != "ERR_INVALID_PARAMETER" {
		t.Errorf("a 300-character pattern: %s", r.Code())
	}

	b.MustOK("--osh", "groupCreate", "--group", "g1", "--owner", "admin", "--algo", "ed25519")
	for _, s := range [][]string{{"10.1.0.1", "root", "prod db"}, {"10.1.0.2", "deploy", "-"}, {"192.0.2.9", "root", "lab"}} {
		words := []string{"--osh", "groupAddServer", "--group", "g1", "--host", s[0], "--user", s[1], "--port", "22", "--force"}
		if s[2] != "-" {
			words = append(words, "--comment", "'"+s[2]+"'")
		}
		b.MustOK(words...)
	}
	ips := func(r testenv.Result) string {
		var out []string
		list, _ := r.JSON()["value"].([]any)
		for _, x := range list {
			out = append(out, fmt.Sprint(x.(map[string]any)["ip"]))
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "10.1.0.1 10.1.0.2 192.0.2.9"},
		{[]string{"--include", "10.1.*"}, "10.1.0.1 10.1.0.2"},
		{[]string{"--include", "root"}, "10.1.0.1 192.0.2.9"},
		{[]string{"--include", "root", "--exclude", "lab"}, "10.1.0.1"},
		{[]string{"--include", "prod"}, "10.1.0.1"},
		{[]string{"--exclude", "g1(group)"}, ""},
	} {
		r := b.Admin(append([]string{"--json-greppable", "--osh", "groupListServers", "--group", "g1"}, tc.args...)...)
		if got := ips(r); got != tc.want {
			t.Errorf("groupListServers %v = %q, want %q\n%s", tc.args, got, tc.want, r.Stdout)
		}
		if want := fmt.Sprintf("%d accesses listed", len(strings.Fields(tc.want))); !strings.Contains(r.Stdout, want) {
			t.Errorf("groupListServers %v: no %q\n%s", tc.args, want, r.Stdout)
		}
	}
}

// TestAccountInfoPasswordInfo: --with-mfa-password-info adds The Bastion's "password" value and
// lines for auditors and admins, and is refused to an account that holds accountInfo only.
func TestAccountInfoPasswordInfo(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAPasswordMaxDays = 30\nMFAPasswordWarnDays = 5\n"})
	key := b.CreateAccount("alice")
	b.CreateAccount("bob")
	b.MustOK("--osh", "accountGrantCommand", "--account", "alice", "--command", "accountInfo")
	changed := time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	if err := b.App.Store.SetMFAPassword(context.Background(), "bob", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", changed, false); err != nil {
		t.Fatal(err)
	}
	r := b.MustOK("--osh", "accountInfo", "--account", "bob", "--with-mfa-password-info")
	pw, _ := r.JSON()["value"].(map[string]any)["password"].(map[string]any)
	if pw["password"] != "set" || pw["date_changed"] != "2026-11-20" || pw["max_days"] != float64(30) || pw["warn_days"] != float64(5) ||
		pw["inactive_days"] != float64(-1) || pw["user"] != "bob" || strings.Contains(r.Stdout, "argon2") {
		t.Errorf("password info: %v", pw)
	}
	for _, want := range []string{"Account PAM UNIX password information (used for password MFA):", "- Password is set",
		"- Password was last changed on 2026-11-20", "- Password must be changed every 30 days at least", "- A warning is displayed 5 days before expiration"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("no %q:\n%s", want, r.Stdout)
		}
	}
	if r := b.MustOK("--osh", "accountInfo", "--account", "alice", "--with-mfa-password-info"); !strings.Contains(r.Stdout, "- No valid password is set") {
		t.Errorf("no password:\n%s", r.Stdout)
	}
	all := b.MustOK("--osh", "accountInfo", "--all", "--with-mfa-password-info").JSON()["value"].(map[string]any)
	if pw, _ := all["bob"].(map[string]any)["password"].(map[string]any); pw["password"] != "set" {
		t.Errorf("--all --with-mfa-password-info: %v", all["bob"])
	}
	if r := b.MustOK("--osh", "accountInfo", "--account", "bob"); r.JSON()["value"].(map[string]any)["password"] != nil {
		t.Errorf("password info without the option")
	}
	r = b.SSH(key, "alice", "--json-greppable", "--osh", "accountInfo", "--account", "bob", "--with-mfa-password-info")
	if r.Code() != "ERR_ACCESS_DENIED" || r.Exit != 100 || !strings.Contains(r.Stdout, "only be used by bastion auditors") {
		t.Errorf("a non-auditor: %s exit %d\n%s", r.Code(), r.Exit, r.Stdout)
	}
	if r := b.SSH(key, "alice", "--json-greppable", "--osh", "accountInfo", "--account", "bob"); r.Code() != "OK" {
		t.Errorf("accountInfo without the option: %s", r.Code())
	}
}

// TestGroupInfoAllAdmin: groupInfo --all answers admins (and auditors), not other accounts.
func TestGroupInfoAllAdmin(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	b.MustOK("--osh", "groupCreate", "--group", "g1", "--owner", "alice", "--algo", "ed25519")
	b.MustOK("--osh", "groupCreate", "--group", "g2", "--owner", "admin", "--algo", "ed25519")
	r := b.MustOK("--osh", "groupInfo", "--all")
	if got := keysOf(r.JSON()["value"]); got != "g1 g2" {
		t.Errorf("groupInfo --all as admin: %q", got)
	}
	if r := b.SSH(key, "alice", "--json-greppable", "--osh", "groupInfo", "--all"); r.Code() != "ERR_ACCESS_DENIED" {
		t.Errorf("groupInfo --all as an owner: %s", r.Code())
	}
}

// TestAccessListFilters: selfListAccesses and accountListAccesses take The Bastion's
// --hide-groups (personal accesses only) and --include/--exclude (on every cell of a line);
// accountInfo takes --with-everything / --without-everything.
func TestAccessListFilters(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "10.2.0.1", "--user", "root", "--port", "22", "--force")
	b.MustOK("--osh", "groupCreate", "--group", "g1", "--owner", "admin", "--algo", "ed25519")
	b.MustOK("--osh", "groupAddServer", "--group", "g1", "--host", "10.3.0.1", "--user", "deploy", "--port", "22", "--force")
	b.MustOK("--osh", "groupAddMember", "--group", "g1", "--account", "alice")
	ips := func(r testenv.Result) string {
		var out []string
		list, _ := r.JSON()["value"].([]any)
		for _, g := range list {
			acl, _ := g.(map[string]any)["acl"].([]any)
			for _, e := range acl {
				out = append(out, fmt.Sprint(e.(map[string]any)["ip"]))
			}
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "10.2.0.1 10.3.0.1"},
		{[]string{"--hide-groups"}, "10.2.0.1"},
		{[]string{"--include", "deploy"}, "10.3.0.1"},
		{[]string{"--exclude", "10.3.*"}, "10.2.0.1"},
		{[]string{"--hide-groups", "--include", "deploy"}, ""},
	} {
		self := b.SSH(key, "alice", append([]string{"--json-greppable", "--osh", "selfListAccesses"}, tc.args...)...)
		other := b.Admin(append([]string{"--json-greppable", "--osh", "accountListAccesses", "--account", "alice"}, tc.args...)...)
		for name, r := range map[string]testenv.Result{"selfListAccesses": self, "accountListAccesses": other} {
			if r.Exit != 0 {
				t.Errorf("%s %v: exit %d\n%s%s", name, tc.args, r.Exit, r.Stdout, r.Stderr)
				continue
			}
			if got := ips(r); got != tc.want {
				t.Errorf("%s %v = %q, want %q\n%s", name, tc.args, got, tc.want, r.Stdout)
			}
		}
	}
	// --reverse-dns: the value keeps the IP and names it (null when not asked); the table and
	// the patterns use the name.
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--user", "root", "--port", "22", "--force")
	names, err := net.LookupAddr("127.0.0.1")
	if err != nil || len(names) == 0 {
		t.Fatalf("this machine names no 127.0.0.1 in its resolver: %v", err)
	}
	local := strings.TrimSuffix(names[0], ".")
	rev := func(args ...string) map[string]any {
		r := b.SSH(key, "alice", append([]string{"--json-greppable", "--osh", "selfListAccesses"}, args...)...)
		out := map[string]any{}
		list, _ := r.JSON()["value"].([]any)
		for _, g := range list {
			acl, _ := g.(map[string]any)["acl"].([]any)
			for _, e := range acl {
				m := e.(map[string]any)
				out[fmt.Sprint(m["ip"])] = m["reverseDns"]
			}
		}
		return out
	}
	if got := rev(); got["127.0.0.1"] != nil {
		t.Errorf("reverseDns without --reverse-dns: %v", got)
	}
	if got := rev("--reverse-dns"); got["127.0.0.1"] != local || got["10.2.0.1"] != nil && got["10.2.0.1"] == "" {
		t.Errorf("--reverse-dns: %v, want 127.0.0.1 named %q", got, local)
	}
	if got := rev("--reverse-dns", "--include", local); len(got) != 1 || got["127.0.0.1"] != local {
		t.Errorf("--reverse-dns --include %s: %v", local, got)
	}
	b.MustOK("--osh", "groupAddServer", "--group", "g1", "--host", "127.0.0.1", "--user", "deploy", "--port", "22", "--force")
	gl := b.MustOK("--json-greppable", "--osh", "groupListServers", "--group", "g1", "--reverse-dns", "--include", local).JSON()["value"].([]any)
	if len(gl) != 1 || gl[0].(map[string]any)["reverseDns"] != local || gl[0].(map[string]any)["ip"] != "127.0.0.1" {
		t.Errorf("groupListServers --reverse-dns --include %s: %v", local, gl)
	}
	if r := b.SSH(key, "alice", "--osh", "selfListAccesses", "--reverse-dns"); !strings.Contains(r.Stdout, local) {
		t.Errorf("--reverse-dns: the table does not show %s:\n%s", local, r.Stdout)
	}

	full := b.MustOK("--json-greppable", "--osh", "accountInfo", "--account", "alice", "--with-everything")
	v := full.JSON()["value"].(map[string]any)
	if _, ok := v["password"]; !ok {
		t.Errorf("--with-everything: no password information: %v", v)
	}
	if k, _ := v["egress_keys"].(map[string]any); len(k) == 0 {
		t.Errorf("--with-everything: no egress keys: %v", v["egress_keys"])
	}
	for fp, k := range v["egress_keys"].(map[string]any) {
		if km, _ := k.(map[string]any); km["fingerprint"] != fp {
			t.Errorf("egress key %s: %v", fp, k)
		}
	}
	if g, _ := v["groups"].(map[string]any); g["g1"] == nil {
		t.Errorf("--with-everything: g1 not in the groups: %v", v["groups"])
	}
	bare := b.MustOK("--json-greppable", "--osh", "accountInfo", "--account", "alice", "--without-everything")
	v = bare.JSON()["value"].(map[string]any)
	if _, ok := v["password"]; ok {
		t.Errorf("--without-everything: password information: %v", v)
	}
	if _, ok := v["egress_keys"]; ok {
		t.Errorf("--without-everything: egress keys: %v", v)
	}
	if r := b.SSH(key, "alice", "--json-greppable", "--osh", "accountInfo", "--account", "alice", "--with-egress-keys"); r.Code() != "ERR_ACCESS_DENIED" && r.Code() != "KO_RESTRICTED_COMMAND" {
		t.Errorf("a plain account asks --with-egress-keys: %s", r.Code())
	}
	if g, ok := v["groups"]; ok && g != nil {
		if m, _ := g.(map[string]any); len(m) > 0 {
			t.Errorf("--without-everything: groups listed: %v", g)
		}
	}
}
