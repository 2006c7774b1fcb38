package access

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	now    = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	future = now.Add(time.Hour)
	past   = now.Add(-time.Second)
)

func key(id string, family string, size int, day int) Key {
	return Key{ID: id, Fingerprint: "SHA256:" + id, Family: family, Size: size, CreatedAt: time.Date(2026, 1, day, 0, 0, 0, 0, time.UTC)}
}

func dur(d time.Duration) *time.Duration { return &d }

// fixture is the world of the big table: accounts × groups × roles × servers.
func fixture() (map[string]Account, map[string][]Entry, []Group) {
	accounts := map[string]Account{
		"alice": {Name: "alice", EgressKeys: []Key{key("alice1", "ED25519", 256, 1), key("alice2", "ED25519", 256, 5)}},
		"bob":   {Name: "bob", EgressKeys: []Key{key("bob1", "RSA", 4096, 1)}},
		"carol": {Name: "carol", OSHOnly: true},
		"dave":  {Name: "dave", Frozen: true, FrozenReason: "left the company"},
		"erin":  {Name: "erin", Expiry: past},
		"frank": {Name: "frank", EgressKeys: []Key{key("frank1", "ED25519", 256, 1)}, PersonalEgressMFA: MFATOTP},
		"gina":  {Name: "gina"},
		"hank":  {Name: "hank"},
	}
	personal := map[string][]Entry{
		"alice": {{Host: "10.0.0.5", User: "root", Port: 22}},
		"frank": {
			{Host: "10.9.0.0/16"},                         // any user, any port
			{Host: "10.9.1.1", User: "old", Expiry: past}, // expired
			{Host: "not a host!"},                         // junk in the store matches nothing
		},
		"hank": {{Host: "172.16.0.0/12", User: "ro?t", Port: 2222}}, // wildcard user
	}
	groups := []Group{
		{
			Name: "ops",
			Servers: []Entry{
				{Host: "10.1.0.0/16", Port: 22},                      // any user, port 22
				{Host: "10.1.2.3", User: "root"},                     // root, any port
				{Host: "192.168.1.10", User: "deploy", Expiry: past}, // expired
				{Host: "target.example.org", User: "root", Port: 22},
			},
			Members: []string{"alice"},
			Guests: map[string][]Entry{
				"bob": {
					{Host: "10.1.2.3", User: "root", Port: 22, Expiry: future},
					{Host: "10.1.9.9", User: "root", Port: 22, Expiry: past},
					{Host: "10.1.2.4", User: "admin", Port: 22},
					{Host: "10.200.0.1", User: "root", Port: 22}, // the group itself has no access there
				},
			},
			Owners:          []string{"alice"},
			Gatekeepers:     []string{"alice", "bob"},
			Aclkeepers:      []string{"alice"},
			MFARequired:     MFAAny,
			IdleLockTimeout: dur(10 * time.Minute),
			EgressKeys:      []Key{key("ops-old", "ED25519", 256, 2), key("ops-new", "ECDSA", 521, 9)},
		},
		{
			Name:            "db",
			Servers:         []Entry{{Host: "10.1.2.0/24", User: "postgres", Port: 22}, {Host: "10.1.2.3", User: "app-*", Port: 22}},
			Members:         []string{"alice", "gina"},
			MFARequired:     MFAPassword,
			IdleLockTimeout: dur(5 * time.Minute),
			EgressKeys:      []Key{key("db1", "RSA", 4096, 3)},
		},
		{
			Name:            "all",
			Servers:         []Entry{{Host: "0.0.0.0/0"}},
			Members:         []string{"gina"},
			IdleLockTimeout: dur(time.Minute),
			EgressKeys:      []Key{key("all1", "ED25519", 256, 4), key("db1", "RSA", 4096, 3)}, // shares a key with db
		},
		{
			Name:       "empty",
			Members:    []string{"alice", "bob", "frank", "gina"},
			EgressKeys: []Key{key("empty1", "ED25519", 256, 1)},
		},
	}
	return accounts, personal, groups
}

func describe(d Decision) (grants, keys string) {
	var g, k []string
	for _, gr := range d.Grants {
		s := string(gr.Kind)
		if gr.Group != "" {
			s += ":" + gr.Group
		}
		g = append(g, s)
	}
	for _, key := range d.Keys() {
		k = append(k, key.ID)
	}
	return strings.Join(g, ","), strings.Join(k, ",")
}

func TestDecideTable(t *testing.T) {
	accounts, personal, groups := fixture()
	tests := []struct {
		name    string
		account string
		target  Target
		grants  string // kinds in order
		keys    string // key IDs offered, in order
		mfa     string
		code    string // refusal code instead
		exit    int
		msg     string // substring of the refusal
	}{
		{name: "personal exact ip user port", account: "alice", target: tg("root", "10.0.0.5", 22),
			grants: "personal", keys: "alice2,alice1"},
		{name: "personal wrong port", account: "alice", target: tg("root", "10.0.0.5", 2222),
			code: "KO_ACCESS_DENIED", exit: 107, msg: "Access denied for alice to root@10.0.0.5:2222"},
		{name: "personal wrong user", account: "alice", target: tg("admin", "10.0.0.5", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "member via prefix any user", account: "alice", target: tg("www", "10.1.7.7", 22),
			grants: "group-member:ops", keys: "ops-new,ops-old", mfa: "any"},
		{name: "member via prefix wrong port", account: "alice", target: tg("www", "10.1.7.7", 23),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "member exact ip any port, two groups", account: "alice", target: tg("root", "10.1.2.3", 2200),
			grants: "group-member:ops", keys: "ops-new,ops-old", mfa: "any"},
		{name: "member of two groups matching, sorted by group", account: "alice", target: tg("postgres", "10.1.2.9", 22),
			grants: "group-member:db,group-member:ops", keys: "db1,ops-new,ops-old", mfa: "password,any"},
		{name: "group wildcard user app-*", account: "gina", target: tg("app-web", "10.1.2.3", 22),
			grants: "group-member:all,group-member:db", keys: "all1,db1", mfa: "password"},
		{name: "group wildcard user no match", account: "gina", target: tg("web", "10.1.2.3", 2222),
			grants: "group-member:all", keys: "all1,db1"},
		{name: "expired group entry ignored", account: "alice", target: tg("deploy", "192.168.1.10", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "hostname entry matches typed name", account: "alice", target: Target{User: "root", Host: "TARGET.example.org", IP: netip.MustParseAddr("203.0.113.9"), Port: 22},
			grants: "group-member:ops", keys: "ops-new,ops-old", mfa: "any"},
		{name: "hostname entry does not match the bare ip", account: "alice", target: tg("root", "203.0.113.9", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "guest exact entry", account: "bob", target: tg("root", "10.1.2.3", 22),
			grants: "group-guest:ops", keys: "ops-new,ops-old", mfa: "any"},
		{name: "guest other port refused although group allows any port", account: "bob", target: tg("root", "10.1.2.3", 2200),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "guest expired entry", account: "bob", target: tg("root", "10.1.9.9", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "guest entry inside group prefix", account: "bob", target: tg("admin", "10.1.2.4", 22),
			grants: "group-guest:ops", keys: "ops-new,ops-old", mfa: "any"},
		{name: "guest entry the group cannot reach", account: "bob", target: tg("root", "10.200.0.1", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "guest other host in group prefix", account: "bob", target: tg("root", "10.1.5.5", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "personal prefix any user any port with personal mfa", account: "frank", target: tg("whoever", "10.9.200.1", 8022),
			grants: "personal", keys: "frank1", mfa: "totp"},
		{name: "expired personal entry ignored, prefix still matches", account: "frank", target: tg("old", "10.9.1.1", 22),
			grants: "personal", keys: "frank1", mfa: "totp"},
		{name: "personal wildcard user ?", account: "hank", target: tg("root", "172.20.1.1", 2222),
			grants: "personal"},
		{name: "personal wildcard user ? wrong length", account: "hank", target: tg("rooot", "172.20.1.1", 2222),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "catch-all group", account: "gina", target: tg("x", "8.8.8.8", 443),
			grants: "group-member:all", keys: "all1,db1"},
		{name: "catch-all v4 does not match v6", account: "gina", target: tg("x", "2001:db8::1", 22),
			code: "KO_ACCESS_DENIED", exit: 107},
		{name: "v4-mapped v6 target is treated as v4", account: "alice", target: tg("root", "::ffff:10.0.0.5", 22),
			grants: "personal", keys: "alice2,alice1"},
		{name: "no roles at all", account: "frank", target: tg("root", "10.1.2.3", 22),
			code: "KO_ACCESS_DENIED", exit: 107, msg: "Access denied for frank to root@10.1.2.3:22"},
		{name: "denied with own name as user gets the hint", account: "frank", target: tg("frank", "10.1.2.3", 22),
			code: "KO_ACCESS_DENIED", exit: 107, msg: "(tried with remote user 'frank')"},
		{name: "osh-only", account: "carol", target: tg("root", "10.0.0.5", 22),
			code: "KO_ACCESS_DENIED", exit: 107, msg: "You don't have the right to connect anywhere"},
		{name: "frozen", account: "dave", target: tg("root", "10.0.0.5", 22),
			code: "KO_ACCOUNT_FROZEN", exit: 131, msg: "Sorry dave, your account is frozen (left the company)."},
		{name: "account ttl expired", account: "erin", target: tg("root", "10.0.0.5", 22),
			code: "KO_TTL_EXPIRED", exit: 121, msg: "Sorry erin, access denied"},
		{name: "shell metacharacter in user", account: "alice", target: tg("root;id", "10.0.0.5", 22),
			code: "KO_INVALID_REMOTE_USER", exit: 127},
		{name: "empty user", account: "alice", target: tg("", "10.0.0.5", 22),
			code: "KO_INVALID_REMOTE_USER", exit: 127},
		{name: "port out of range", account: "alice", target: tg("root", "10.0.0.5", 70000),
			code: "KO_INVALID_PORT", exit: 134},
		{name: "unresolved host", account: "alice", target: Target{User: "root", Host: "nowhere.invalid", Port: 22},
			code: "KO_HOST_NOT_FOUND", exit: 102, msg: "nowhere.invalid"},
		{name: "ipv6 deny display", account: "alice", target: tg("root", "2001:db8::5", 22),
			code: "KO_ACCESS_DENIED", exit: 107, msg: "root@[2001:db8::5]:22"},
		{name: "unknown account name", account: "", target: tg("root", "10.0.0.5", 22),
			code: "KO_ACCOUNT_INVALID", exit: 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			acct := accounts[tc.account]
			d, err := Decide(now, acct, groups, personal[tc.account], tc.target)
			if tc.code != "" {
				var r *Refusal
				if !errors.As(err, &r) {
					t.Fatalf("want refusal %s, got decision %+v err %v", tc.code, d, err)
				}
				if r.Code != tc.code || r.Exit != tc.exit || !strings.Contains(r.Message, tc.msg) {
					t.Fatalf("refusal = %+v, want code %s exit %d message containing %q", r, tc.code, tc.exit, tc.msg)
				}
				if len(d.Grants) != 0 {
					t.Fatalf("refusal came with grants: %+v", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected refusal: %v", err)
			}
			grants, keys := describe(d)
			if grants != tc.grants {
				t.Errorf("grants = %q, want %q", grants, tc.grants)
			}
			if tc.keys != "" && keys != tc.keys {
				t.Errorf("keys = %q, want %q", keys, tc.keys)
			}
			var mfa []string
			for _, m := range d.MFA() {
				mfa = append(mfa, string(m))
			}
			if got := strings.Join(mfa, ","); got != tc.mfa {
				t.Errorf("mfa = %q, want %q", got, tc.mfa)
			}
		})
	}
}

func tg(user, ip string, port int) Target {
	return Target{User: user, Host: ip, IP: netip.MustParseAddr(ip), Port: port}
}

func TestDecideMostSpecificEntry(t *testing.T) {
	g := Group{Name: "g", Members: []string{"alice"}, Servers: []Entry{
		{Host: "10.0.0.0/8", Comment: "wide"},
		{Host: "10.1.0.0/16", Comment: "narrow"},
		{Host: "10.1.2.3", Comment: "exact"},
		{Host: "10.1.0.0/24", Comment: "narrower"},
	}}
	cases := map[string]string{"10.1.2.3": "exact", "10.1.0.9": "narrower", "10.1.9.9": "narrow", "10.7.7.7": "wide"}
	for ip, want := range cases {
		d, err := Decide(now, Account{Name: "alice"}, []Group{g}, nil, tg("root", ip, 22))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Grants[0].Entry.Comment; got != want {
			t.Errorf("%s matched %q, want %q", ip, got, want)
		}
	}
}

func TestTryLines(t *testing.T) {
	accounts, personal, groups := fixture()
	d, err := Decide(now, accounts["alice"], groups, personal["alice"], tg("root", "10.0.0.5", 22))
	if err != nil {
		t.Fatal(err)
	}
	// Add a group grant by hand to see both shapes in one output.
	d.Grants = append(d.Grants, Grant{Kind: KindGroupMember, Group: "securegroup", MFA: MFAAny,
		Keys: []Key{{ID: "s", Fingerprint: "SHA256:94yETEnnWUy9yTG1dgAdXgunq6zzJPjlddFXjUH0Czw", Family: "ED25519", Size: 256, CreatedAt: time.Date(2023, 3, 3, 10, 0, 0, 0, time.UTC)}}},
		Grant{Kind: KindGroupGuest, Group: "g2", MFA: MFANone, Keys: []Key{key("g2", "RSA", 4096, 7)}})
	got := TryLines(d, nil)
	want := []string{
		" will try the following accesses you have:",
		"  - personal access with ED25519-256 key SHA256:alice2 [2026/01/05] ",
		"  - personal access with ED25519-256 key SHA256:alice1 [2026/01/01] ",
		"  - group-member of securegroup with ED25519-256 key SHA256:94yETEnnWUy9yTG1dgAdXgunq6zzJPjlddFXjUH0Czw [2023/03/03]  (MFA REQUIRED: ANY)",
		"  - group-guest of g2 with RSA-4096 key SHA256:g2 [2026/01/07] ",
		"",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("TryLines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCombineIdle(t *testing.T) {
	global := IdleTimeouts{Lock: 30 * time.Minute, Kill: 2 * time.Hour}
	g := func(lock, kill *time.Duration, catchAll bool) Grant {
		return Grant{Kind: KindGroupMember, IdleLock: lock, IdleKill: kill, CatchAll: catchAll}
	}
	tests := []struct {
		name   string
		grants []Grant
		want   IdleTimeouts
	}{
		{"no grants", nil, global},
		{"no overrides", []Grant{g(nil, nil, false)}, global},
		{"one override applies even if longer", []Grant{g(dur(time.Hour), nil, false)}, IdleTimeouts{Lock: time.Hour, Kill: 2 * time.Hour}},
		{"one override of 0 disables", []Grant{g(dur(0), dur(0), false)}, IdleTimeouts{}},
		{"several: smallest positive with global", []Grant{g(dur(time.Hour), dur(0), false), g(dur(45*time.Minute), dur(3*time.Hour), false)},
			IdleTimeouts{Lock: 30 * time.Minute, Kill: 2 * time.Hour}},
		{"several: smaller than global wins", []Grant{g(dur(5*time.Minute), nil, false), g(dur(10*time.Minute), nil, false)},
			IdleTimeouts{Lock: 5 * time.Minute, Kill: 2 * time.Hour}},
		{"catch-all ignored", []Grant{g(dur(time.Minute), dur(time.Minute), true), g(dur(time.Hour), nil, false)},
			IdleTimeouts{Lock: time.Hour, Kill: 2 * time.Hour}},
		{"personal ignored", []Grant{{Kind: KindPersonal, IdleLock: dur(time.Second)}}, global},
	}
	for _, tc := range tests {
		if got := CombineIdle(global, tc.grants); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// Several overrides, none positive, global disabled: disabled.
	if got := CombineIdle(IdleTimeouts{}, []Grant{g(dur(0), nil, false), g(dur(0), nil, false)}); got != (IdleTimeouts{}) {
		t.Errorf("all zero: got %+v", got)
	}
}

func TestCombineIdleFromDecision(t *testing.T) {
	accounts, personal, groups := fixture()
	// gina reaches 10.1.2.3 as app-x through db (5 min) and all (catch-all, 1 min).
	d, err := Decide(now, accounts["gina"], groups, personal["gina"], tg("app-x", "10.1.2.3", 22))
	if err != nil {
		t.Fatal(err)
	}
	got := CombineIdle(IdleTimeouts{Lock: time.Hour}, d.Grants)
	if got.Lock != 5*time.Minute {
		t.Fatalf("lock = %s, want 5m (the catch-all group's 1m must be ignored)", got.Lock)
	}
}

func TestForcedKeys(t *testing.T) {
	keys := []Key{{ID: "1", Fingerprint: "SHA256:a"}, {ID: "2", Fingerprint: "SHA256:b"}}
	for _, tc := range []struct {
		force string
		want  []string
	}{{"", []string{"1", "2"}}, {"SHA256:b", []string{"2"}}, {"SHA256:zzz", nil}} {
		var got []string
		for _, k := range ForcedKeys(keys, tc.force) {
			got = append(got, k.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("ForcedKeys(%q) = %v, want %v", tc.force, got, tc.want)
		}
	}
}
