package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// cast is the set of accounts the group tests act as.
type cast struct {
	b    *testenv.Bastion
	keys map[string]string // account → private key file; "admin" uses the first admin's
}

// run runs words as account with --json-greppable.
func (c *cast) run(t *testing.T, account string, words ...string) testenv.Result {
	t.Helper()
	return c.runIn(t, "", account, words...)
}

func (c *cast) runIn(t *testing.T, stdin, account string, words ...string) testenv.Result {
	t.Helper()
	key := c.keys[account]
	if account == "admin" {
		key = c.b.AdminKey
	}
	args := append([]string{"--json-greppable", "--osh"}, words...)
	if stdin != "" {
		return c.b.SSHIn(strings.NewReader(stdin), key, account, args...)
	}
	return c.b.SSH(key, account, args...)
}

// want runs a command and checks its exit status and code; it returns the JSON value.
func (c *cast) want(t *testing.T, exit int, code, account string, words ...string) any {
	t.Helper()
	return c.wantIn(t, "", exit, code, account, words...)
}

func (c *cast) wantIn(t *testing.T, stdin string, exit int, code, account string, words ...string) any {
	t.Helper()
	r := c.runIn(t, stdin, account, words...)
	j := r.JSON()
	if r.Exit != exit || r.Code() != code {
		t.Fatalf("%s %v: exit %d code %q, want exit %d code %q\nJSON: %v\nstdout:\n%s", account, words, r.Exit, r.Code(), exit, code, j, r.Stdout)
	}
	if j == nil {
		t.Fatalf("%s %v: no JSON", account, words)
	}
	if msg, _ := j["error_message"].(string); msg == "" {
		t.Fatalf("%s %v: empty error_message", account, words)
	}
	return j["value"]
}

func obj(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want an object, got %#v", v)
	}
	return m
}

// strs returns a JSON list of strings, sorted.
func strs(v any) []string {
	l, _ := v.([]any)
	out := []string{}
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// servers summarises a groupListServers value as "user@ip:port" strings, sorted; "*" for any.
func servers(v any) []string {
	out := []string{}
	l, _ := v.([]any)
	for _, x := range l {
		e := x.(map[string]any)
		user, port := "*", "*"
		if u, ok := e["user"].(string); ok {
			user = u
		}
		if p, ok := e["port"].(float64); ok {
			port = fmt.Sprint(p)
		}
		out = append(out, fmt.Sprintf("%s@%s:%s", user, e["ip"], port))
	}
	sort.Strings(out)
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// TestGroups drives every group and access command through the real ssh client, on one bastion,
// in the order an organisation would use them. Subtests share the state; each says what it
// expects to find.
func TestGroups(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "egressKeysFrom = [\"192.0.2.10\"]\n"})
	c := &cast{b: b, keys: map[string]string{}}
	// alice owns web; gk keeps its gate and owns db; ak keeps its servers; mem, gst are users;
	// plain has no role; so is a super-owner, aud an auditor.
	for _, name := range []string{"alice", "gk", "ak", "mem", "gst", "plain", "so", "aud"} {
		c.keys[name] = b.CreateAccount(name)
	}
	b.MustOK("--osh", "accountGrantCommand", "--account", "so", "--command", "superowner")
	b.MustOK("--osh", "accountGrantCommand", "--account", "aud", "--command", "auditor")

	t.Run("create", func(t *testing.T) {
		v := obj(t, c.want(t, 0, "OK", "admin", "groupCreate", "--group", "web", "--owner", "alice", "--algo", "ed25519"))
		pk := obj(t, v["public_key"])
		if v["group"] != "web" || v["owner"] != "alice" || pk["family"] != "ED25519" || pk["typecode"] != "ssh-ed25519" ||
			pk["prefix"] != `from="192.0.2.10"` || !strings.HasPrefix(pk["fullline"].(string), `from="192.0.2.10" ssh-ed25519 `) ||
			!strings.HasPrefix(pk["line"].(string), "ssh-ed25519 ") {
			t.Fatalf("groupCreate value: %v", v)
		}
		c.want(t, 0, "OK", "admin", "groupCreate", "--group", "db", "--owner", "gk", "--algo", "ecdsa", "--size", "256")
		// Bad input creates nothing.
		c.want(t, 100, "KO_ALREADY_EXISTING", "admin", "groupCreate", "--group", "web", "--owner", "gk")
		c.want(t, 100, "ERR_INVALID_PARAMETER", "admin", "groupCreate", "--group", "keytothegate", "--owner", "gk")
		c.want(t, 100, "ERR_INVALID_PARAMETER", "admin", "groupCreate", "--group", "bad;name", "--owner", "gk")
		c.want(t, 100, "KO_KEY_SIZE_TOO_SMALL", "admin", "groupCreate", "--group", "weak", "--owner", "gk", "--algo", "rsa", "--size", "1024")
		c.want(t, 100, "KO_NOT_FOUND", "admin", "groupCreate", "--group", "orphan", "--owner", "nobody")
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "plain", "groupCreate", "--group", "mine", "--owner", "plain")
		all := obj(t, c.want(t, 0, "OK", "plain", "groupList", "--all"))
		if len(all) != 2 || strs(obj(t, all["web"])["flags"])[0] != "no-access" {
			t.Fatalf("groupList --all after bad input: %v", all)
		}
		c.want(t, 0, "OK_EMPTY", "plain", "groupList")
		mine := obj(t, c.want(t, 0, "OK", "alice", "groupList"))
		same(t, "alice's flags", strs(obj(t, mine["web"])["flags"]), []string{"owner", "gatekeeper", "aclkeeper", "member"})
	})

	t.Run("info", func(t *testing.T) {
		v := obj(t, c.want(t, 0, "OK", "alice", "groupInfo", "--group", "web"))
		for _, role := range []string{"owners", "gatekeepers", "aclkeepers", "members"} {
			same(t, role, strs(v[role]), []string{"alice"})
		}
		same(t, "guests", strs(v["guests"]), nil)
		keys := obj(t, v["keys"])
		if len(keys) != 1 {
			t.Fatalf("keys: %v", keys)
		}
		// Anyone sees whom to ask and the key, not the members.
		v = obj(t, c.want(t, 0, "OK", "plain", "groupInfo", "--group", "web"))
		if _, ok := v["members"]; ok || strs(v["owners"])[0] != "alice" || len(obj(t, v["keys"])) != 1 {
			t.Fatalf("groupInfo for a stranger: %v", v)
		}
		c.want(t, 100, "ERR_ACCESS_DENIED", "plain", "groupInfo", "--all")
		all := obj(t, c.want(t, 0, "OK", "aud", "groupInfo", "--all"))
		if len(all) != 2 || strs(obj(t, all["db"])["members"])[0] != "gk" {
			t.Fatalf("groupInfo --all: %v", all)
		}
		c.want(t, 100, "KO_GROUP_NOT_FOUND", "alice", "groupInfo", "--group", "nosuch")
	})

	t.Run("roles", func(t *testing.T) {
		c.want(t, 0, "OK", "alice", "groupAddGatekeeper", "--group", "web", "--account", "gk")
		c.want(t, 0, "OK_NO_CHANGE", "alice", "groupAddGatekeeper", "--group", "web", "--account", "gk")
		c.want(t, 0, "OK", "alice", "groupAddAclkeeper", "--group", "web", "--account", "ak")
		c.want(t, 0, "OK_NO_CHANGE", "alice", "groupDelOwner", "--group", "web", "--account", "gk")
		c.want(t, 100, "ERR_LAST_OWNER", "alice", "groupDelOwner", "--group", "web", "--account", "alice")
		c.want(t, 100, "KO_NOT_FOUND", "alice", "groupAddGatekeeper", "--group", "web", "--account", "nobody")
		c.want(t, 100, "KO_GROUP_NOT_FOUND", "alice", "groupAddGatekeeper", "--group", "nosuch", "--account", "gk")
		// Owners of another group reach the command, then the group refuses them.
		r := c.run(t, "gk", "groupAddOwner", "--group", "web", "--account", "gk")
		if r.Exit != 100 || r.Code() != "ERR_NOT_GROUP_OWNER" || r.JSON()["command"] != "groupAddOwner" || !strings.Contains(r.Stdout, "owner of group web") {
			t.Fatalf("gk adds himself as owner of web: exit %d %s\n%s", r.Exit, r.Code(), r.Stdout)
		}
		c.want(t, 100, "ERR_NOT_GROUP_GATEKEEPER", "alice", "groupAddMember", "--group", "db", "--account", "alice")
		c.want(t, 100, "ERR_NOT_GROUP_ACLKEEPER", "alice", "groupAddServer", "--group", "db", "--host", "10.0.0.1", "--user-any", "--port-any")
		// No role anywhere: refused before the command runs.
		for _, w := range [][]string{{"groupAddOwner", "--group", "web", "--account", "plain"}, {"groupAddMember", "--group", "web", "--account", "plain"},
			{"groupAddServer", "--group", "web", "--host", "10.0.0.1", "--user-any", "--port-any"}} {
			r := c.run(t, "plain", w...)
			if r.Exit != 106 || r.Code() != "KO_RESTRICTED_COMMAND" || r.JSON()["command"] != nil {
				t.Fatalf("plain %v: exit %d %v", w, r.Exit, r.JSON())
			}
		}
		// A super-owner passes every group's checks, with OVERRIDE said and logged.
		r = c.run(t, "so", "groupAddMember", "--group", "db", "--account", "mem")
		if r.Exit != 0 || r.Code() != "OK" || !strings.Contains(r.Stdout, "OVERRIDE") {
			t.Fatalf("super-owner override: exit %d %s\n%s", r.Exit, r.Code(), r.Stdout)
		}
		c.want(t, 0, "OK", "so", "groupDelMember", "--group", "db", "--account", "mem")
		// … but has no ownership of their own to give away.
		c.want(t, 100, "ERR_NOT_GROUP_OWNER", "so", "groupTransmitOwnership", "--group", "web", "--account", "so")
		v := obj(t, c.want(t, 0, "OK", "alice", "groupInfo", "--group", "web"))
		same(t, "owners", strs(v["owners"]), []string{"alice"})
		same(t, "gatekeepers", strs(v["gatekeepers"]), []string{"alice", "gk"})
		same(t, "aclkeepers", strs(v["aclkeepers"]), []string{"alice", "ak"})
		same(t, "members", strs(v["members"]), []string{"alice"})
	})

	var ttlAdded time.Time
	t.Run("servers", func(t *testing.T) {
		v := obj(t, c.want(t, 0, "OK", "ak", "groupAddServer", "--group", "web", "--host", "127.0.0.1", "--user", "g1", "--port", "22", "--comment", `"primary db"`, "--force"))
		if v["ip"] != "127.0.0.1" || v["user"] != "g1" || v["port"] != float64(22) || v["comment"] != "primary db" || v["group"] != "web" {
			t.Fatalf("groupAddServer value: %v", v)
		}
		if c.want(t, 0, "OK_NO_CHANGE", "ak", "groupAddServer", "--group", "web", "--host", "127.0.0.1", "--user", "g1", "--port", "22", "--force") != nil {
			t.Fatalf("duplicate add has a value")
		}
		before := servers(c.want(t, 0, "OK", "ak", "groupListServers", "--group", "web"))
		same(t, "servers", before, []string{"g1@127.0.0.1:22"})
		// Bad input, refused with its code, changes nothing.
		for _, bad := range []struct {
			code string
			args []string
		}{
			{"KO_INVALID_IP", []string{"--host", "10.1.0.1/24", "--user-any", "--port-any", "--force"}},
			{"KO_INVALID_IP", []string{"--host", "10.0.0.256", "--user-any", "--port-any"}},
			{"KO_INVALID_REMOTE_HOST", []string{"--host", "'bad;host'", "--user-any", "--port-any"}},
			{"KO_INVALID_PORT", []string{"--host", "10.0.0.1", "--user-any", "--port", "0"}},
			{"KO_INVALID_PORT", []string{"--host", "10.0.0.1", "--user-any", "--port", "70000"}},
			{"KO_INVALID_REMOTE_USER", []string{"--host", "10.0.0.1", "--user", "'root;id'", "--port-any"}},
			{"KO_INVALID_REMOTE_USER", []string{"--host", "10.0.0.1", "--user", `"ro ot"`, "--port-any"}},
			{"ERR_MISSING_PARAMETER", []string{"--host", "10.0.0.1", "--port-any"}},
			{"ERR_INCOMPATIBLE_PARAMETERS", []string{"--host", "10.0.0.1", "--user", "root", "--user-any", "--port-any"}},
		} {
			exit := 100
			if bad.code == "KO_INVALID_IP" || bad.code == "KO_INVALID_REMOTE_HOST" {
				exit = 128 // The Bastion's EXIT_INVALID_REMOTE_HOST
			}
			c.want(t, exit, bad.code, "ak", append([]string{"groupAddServer", "--group", "web"}, bad.args...)...)
		}
		c.want(t, 100, "KO_GROUP_NOT_FOUND", "ak", "groupAddServer", "--group", "nosuch", "--host", "10.0.0.1", "--user-any", "--port-any")
		same(t, "servers after bad input", servers(c.want(t, 0, "OK", "ak", "groupListServers", "--group", "web")), before)

		v = obj(t, c.want(t, 0, "OK", "ak", "groupAddServer", "--group", "web", "--host", "10.1.0.0/24", "--user-any", "--port-any", "--force"))
		if v["user"] != nil || v["port"] != nil || v["ip"] != "10.1.0.0/24" {
			t.Fatalf("any user/port value: %v", v)
		}
		ttlAdded = time.Now()
		v = obj(t, c.want(t, 0, "OK", "ak", "groupAddServer", "--group", "web", "--host", "10.2.0.5", "--user-any", "--port-any", "--ttl", "1"))
		if v["ttl"] != float64(1) {
			t.Fatalf("ttl value: %v", v)
		}
		c.want(t, 0, "OK", "ak", "groupDelServer", "--group", "web", "--host", "10.1.0.0/24", "--user-any", "--port-any")
		c.want(t, 0, "OK_NO_CHANGE", "ak", "groupDelServer", "--group", "web", "--host", "10.1.0.0/24", "--user-any", "--port-any")
		// Who may list: members, keepers, auditors, super-owners; not strangers.
		c.want(t, 100, "KO_ACCESS_DENIED", "mem", "groupListServers", "--group", "web")
		c.want(t, 0, "OK", "aud", "groupListServers", "--group", "web")
		c.want(t, 0, "OK", "so", "groupListServers", "--group", "web")
		c.want(t, 0, "OK_EMPTY", "gk", "groupListServers", "--group", "db")
		// The access with a TTL disappears once expired.
		b.Clock.Advance(time.Until(ttlAdded.Add(1100 * time.Millisecond)))
		same(t, "servers after TTL", servers(c.want(t, 0, "OK", "alice", "groupListServers", "--group", "web")), []string{"g1@127.0.0.1:22"})
	})

	t.Run("setServers", func(t *testing.T) {
		before := servers(c.want(t, 0, "OK", "ak", "groupListServers", "--group", "web"))
		v := obj(t, c.wantIn(t, "g2@127.0.0.2:22 second\n10.3.0.7\nroot;id@10.3.0.8\n10.3.0.9:70000\n", 100, "ERR_INVALID_PARAMETER",
			"ak", "groupSetServers", "--group", "web"))
		if len(v["errors"].([]any)) != 2 || v["parsedLines"] != float64(4) {
			t.Fatalf("groupSetServers errors: %v", v)
		}
		c.wantIn(t, "10.3.0.1/24\n", 100, "ERR_INVALID_PARAMETER", "ak", "groupSetServers", "--group", "web") // host bits set
		v = obj(t, c.wantIn(t, "10.3.0.7\n10.3.0.8\n", 0, "OK", "ak", "groupSetServers", "--group", "web", "--dry-run"))
		if v["dryrun"] != true || len(v["ACL"].([]any)) != 2 {
			t.Fatalf("dry run value: %v", v)
		}
		c.wantIn(t, "\n", 0, "OK_NO_CHANGE", "ak", "groupSetServers", "--group", "web")
		same(t, "servers after refused sets", servers(c.want(t, 0, "OK", "ak", "groupListServers", "--group", "web")), before)

		list := `[{"ip":"127.0.0.1","user":"g1","port":22,"comment":"primary db"},{"ip":"127.0.0.2","user":"g2","port":22},{"ip":"10.4.0.0/24","user":null,"port":null}]`
		v = obj(t, c.wantIn(t, list, 0, "OK", "ak", "groupSetServers", "--group", "web", "--force"))
		if v["dryrun"] != false || len(v["ACL"].([]any)) != 3 {
			t.Fatalf("set value: %v", v)
		}
		lv := c.want(t, 0, "OK", "ak", "groupListServers", "--group", "web")
		same(t, "servers after set", servers(lv), []string{"g1@127.0.0.1:22", "g2@127.0.0.2:22", "*@10.4.0.0/24:*"})
		for _, e := range lv.([]any) {
			e := e.(map[string]any)
			if e["ip"] == "127.0.0.1" && (e["comment"] != "primary db" || e["addedBy"] != "ak") {
				t.Fatalf("kept entry lost its comment or author: %v", e)
			}
		}
	})

	t.Run("membersAndGuests", func(t *testing.T) {
		gw := []string{"groupAddGuestAccess", "--group", "web", "--account", "gst"}
		v := obj(t, c.want(t, 0, "OK", "gk", append(gw, "--host", "127.0.0.2", "--user", "g2", "--port", "22")...))
		if v["account"] != "gst" || v["ip"] != "127.0.0.2" {
			t.Fatalf("guest value: %v", v)
		}
		c.want(t, 0, "OK_NO_CHANGE", "gk", append(gw, "--host", "127.0.0.2", "--user", "g2", "--port", "22")...)
		// Only what the group itself reaches.
		c.want(t, 100, "ERR_GROUP_HAS_NO_ACCESS", "gk", append(gw, "--host", "127.0.0.9", "--user", "g2", "--port", "22")...)
		c.want(t, 100, "ERR_GROUP_HAS_NO_ACCESS", "gk", append(gw, "--host", "127.0.0.1", "--user", "g1", "--port-any")...)
		c.want(t, 100, "ERR_GROUP_HAS_NO_ACCESS", "gk", append(gw, "--host", "127.0.0.1", "--user", "g9", "--port", "22")...)
		c.want(t, 0, "OK", "gk", append(gw, "--host", "10.4.0.66", "--user-any", "--port-any")...)
		c.want(t, 100, "KO_INVALID_PORT", "gk", append(gw, "--host", "10.4.0.66", "--user-any", "--port", "70000")...)
		// The group's guest TTL limit.
		res := obj(t, c.want(t, 0, "OK", "alice", "groupModify", "--group", "web", "--guest-ttl-limit", "1h"))
		if obj(t, res["guest_ttl_limit"])["error_code"] != "OK" {
			t.Fatalf("groupModify value: %v", res)
		}
		c.want(t, 100, "ERR_INVALID_PARAMETER", "gk", append(gw, "--host", "10.4.0.67", "--user-any", "--port-any")...)
		c.want(t, 100, "ERR_INVALID_PARAMETER", "gk", append(gw, "--host", "10.4.0.67", "--user-any", "--port-any", "--ttl", "2h")...)
		c.want(t, 0, "OK", "gk", append(gw, "--host", "10.4.0.67", "--user-any", "--port-any", "--ttl", "30m")...)
		list := c.want(t, 0, "OK", "gk", "groupListGuestAccesses", "--group", "web", "--account", "gst")
		same(t, "guest accesses", servers(list), []string{"g2@127.0.0.2:22", "*@10.4.0.66:*", "*@10.4.0.67:*"})
		info := obj(t, c.want(t, 0, "OK", "gk", "groupInfo", "--group", "web"))
		if strs(info["guests"])[0] != "gst" || obj(t, info["guests_accesses"])["gst"] != float64(3) {
			t.Fatalf("groupInfo guests: %v", info)
		}
		// The guest sees its accesses, as a guest.
		acc := c.want(t, 0, "OK", "gst", "selfListAccesses").([]any)
		if len(acc) != 1 || obj(t, acc[0])["type"] != "group-guest" || obj(t, acc[0])["group"] != "web" || len(obj(t, acc[0])["acl"].([]any)) != 3 {
			t.Fatalf("guest selfListAccesses: %v", acc)
		}
		c.want(t, 0, "OK", "gk", "groupDelGuestAccess", "--group", "web", "--account", "gst", "--host", "10.4.0.67", "--user-any", "--port-any")
		c.want(t, 0, "OK_NO_CHANGE", "gk", "groupDelGuestAccess", "--group", "web", "--account", "gst", "--host", "10.4.0.67", "--user-any", "--port-any")
		// Becoming a member wipes the guest accesses.
		r := c.run(t, "gk", "groupAddMember", "--group", "web", "--account", "gst")
		if r.Exit != 0 || r.Code() != "OK" || !strings.Contains(r.Stdout, "Cleaning these guest accesses") {
			t.Fatalf("member over guest: %d %s\n%s", r.Exit, r.Code(), r.Stdout)
		}
		c.want(t, 100, "ERR_MEMBER_CANNOT_BE_GUEST", "gk", append(gw, "--host", "127.0.0.2", "--user", "g2", "--port", "22")...)
		c.want(t, 0, "OK", "gk", "groupDelMember", "--group", "web", "--account", "gst")
		c.want(t, 0, "OK_EMPTY", "gk", "groupListGuestAccesses", "--group", "web", "--account", "gst")
		c.want(t, 0, "OK_EMPTY", "gst", "selfListAccesses")
		info = obj(t, c.want(t, 0, "OK", "gk", "groupInfo", "--group", "web"))
		same(t, "guests after membership", strs(info["guests"]), nil)

		c.want(t, 0, "OK", "gk", "groupAddMember", "--group", "web", "--account", "mem")
		c.want(t, 0, "OK_NO_CHANGE", "gk", "groupAddMember", "--group", "web", "--account", "mem")
		same(t, "member's view", servers(c.want(t, 0, "OK", "mem", "groupListServers", "--group", "web")),
			[]string{"g1@127.0.0.1:22", "g2@127.0.0.2:22", "*@10.4.0.0/24:*"})
	})

	t.Run("personalAccesses", func(t *testing.T) {
		pa := []string{"--host", "192.0.2.20", "--user", "root", "--port", "22", "--force"} // no server there to try
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "mem", append([]string{"selfAddPersonalAccess"}, pa...)...)
		b.MustOK("--osh", "accountGrantCommand", "--account", "mem", "--command", "selfAddPersonalAccess")
		v := obj(t, c.want(t, 0, "OK", "mem", append([]string{"selfAddPersonalAccess"}, pa...)...))
		if v["account"] != "mem" || v["ip"] != "192.0.2.20" || v["user"] != "root" || v["port"] != float64(22) {
			t.Fatalf("selfAddPersonalAccess value: %v", v)
		}
		c.want(t, 0, "OK_NO_CHANGE", "mem", append([]string{"selfAddPersonalAccess"}, pa...)...)
		c.want(t, 100, "KO_INVALID_REMOTE_USER", "mem", "selfAddPersonalAccess", "--host", "192.0.2.21", "--user", "'a;b'", "--port", "22")
		ap := []string{"--account", "mem", "--host", "192.0.2.32/28", "--user-any", "--port-any"}
		c.want(t, 0, "OK", "admin", append([]string{"accountAddPersonalAccess"}, ap...)...) // a prefix needs no --force, as The Bastion
		c.want(t, 0, "OK_NO_CHANGE", "admin", append([]string{"accountAddPersonalAccess", "--force"}, ap...)...)
		c.want(t, 0, "OK", "admin", "accountAddPersonalAccess", "--account", "mem", "--host", "192.0.2.99", "--user-any", "--port-any")
		c.want(t, 0, "OK", "admin", "accountDelPersonalAccess", "--account", "mem", "--host", "192.0.2.99", "--user-any", "--port-any")
		c.want(t, 0, "OK_NO_CHANGE", "admin", "accountDelPersonalAccess", "--account", "mem", "--host", "192.0.2.99", "--user-any", "--port-any")
		c.want(t, 100, "KO_NOT_FOUND", "admin", "accountAddPersonalAccess", "--account", "nobody", "--host", "192.0.2.99", "--user-any", "--port-any")

		check := func(v any) {
			t.Helper()
			byType := map[string][]string{}
			for _, a := range v.([]any) {
				a := a.(map[string]any)
				key := a["type"].(string)
				if g, ok := a["group"].(string); ok {
					key += ":" + g
				}
				byType[key] = servers(a["acl"])
			}
			same(t, "personal", byType["personal"], []string{"root@192.0.2.20:22", "*@192.0.2.32/28:*"})
			same(t, "group-member web", byType["group-member:web"], []string{"g1@127.0.0.1:22", "g2@127.0.0.2:22", "*@10.4.0.0/24:*"})
			if len(byType) != 2 {
				t.Fatalf("accesses: %v", byType)
			}
		}
		r := c.run(t, "mem", "selfListAccesses")
		if r.Exit != 0 || !strings.Contains(r.Stdout, "5 accesses listed") || !strings.Contains(r.Stdout, "web(group-member)") {
			t.Fatalf("selfListAccesses: %d\n%s", r.Exit, r.Stdout)
		}
		check(r.JSON()["value"])
		check(c.want(t, 0, "OK", "admin", "accountListAccesses", "--account", "mem"))
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "mem", "accountListAccesses", "--account", "alice")
	})

	t.Run("whoHasAccessTo", func(t *testing.T) {
		v := obj(t, c.want(t, 0, "OK", "admin", "whoHasAccessTo", "--host", "127.0.0.2", "--user", "g2", "--port", "22"))
		if len(v) != 2 || strs(obj(t, v["mem"])["group_access"])[0] != "web(group-member)" || obj(t, v["alice"])["personal_access"] != float64(0) {
			t.Fatalf("whoHasAccessTo 127.0.0.2: %v", v)
		}
		// Another user: the entry is for g2 only.
		if v := obj(t, c.want(t, 0, "OK", "admin", "whoHasAccessTo", "--host", "127.0.0.2", "--user", "root", "--port", "22")); len(v) != 0 {
			t.Fatalf("whoHasAccessTo as root: %v", v)
		}
		v = obj(t, c.want(t, 0, "OK", "admin", "whoHasAccessTo", "--host", "192.0.2.35"))
		if len(v) != 1 || obj(t, v["mem"])["personal_access"] != float64(1) || obj(t, v["mem"])["can_connect"] != float64(1) {
			t.Fatalf("whoHasAccessTo personal: %v", v)
		}
		if v := obj(t, c.want(t, 0, "OK", "admin", "whoHasAccessTo", "--host", "127.0.0.2", "--ignore-group", "web")); len(v) != 0 {
			t.Fatalf("--ignore-group: %v", v)
		}
		c.want(t, 100, "KO_INVALID_PORT", "admin", "whoHasAccessTo", "--host", "127.0.0.2", "--port", "0")
		c.want(t, 100, "KO_INVALID_IP", "admin", "whoHasAccessTo", "--host", "10.0.0.0/8")
	})

	t.Run("modify", func(t *testing.T) {
		c.want(t, 100, "ERR_INVALID_PARAMETER", "alice", "groupModify", "--group", "web", "--idle-lock-timeout", "soon", "--mfa-required", "totp")
		c.want(t, 100, "ERR_BAD_OPTIONS", "alice", "groupModify", "--group", "web", "--mfa-required", "sometimes")
		v := obj(t, c.want(t, 0, "OK", "alice", "groupInfo", "--group", "web"))
		if v["mfa_required"] != nil || v["idle_lock_timeout"] != nil {
			t.Fatalf("refused groupModify changed something: %v", v)
		}
		res := obj(t, c.want(t, 0, "OK", "alice", "groupModify", "--group", "web", "--mfa-required", "totp", "--idle-lock-timeout", "10m", "--idle-kill-timeout", "0"))
		for _, k := range []string{"mfa_required", "idle_lock_timeout", "idle_kill_timeout"} {
			if obj(t, res[k])["error_code"] != "OK" {
				t.Fatalf("groupModify %s: %v", k, res)
			}
		}
		res = obj(t, c.want(t, 0, "OK", "alice", "groupModify", "--group", "web", "--mfa-required", "totp"))
		if obj(t, res["mfa_required"])["error_code"] != "OK_NO_CHANGE" {
			t.Fatalf("repeat groupModify: %v", res)
		}
		v = obj(t, c.want(t, 0, "OK", "mem", "groupInfo", "--group", "web"))
		if v["mfa_required"] != "totp" || v["idle_lock_timeout"] != float64(600) || v["idle_kill_timeout"] != float64(0) || v["guest_ttl_limit"] != float64(3600) {
			t.Fatalf("groupInfo after groupModify: %v", v)
		}
		c.want(t, 0, "OK", "alice", "groupModify", "--group", "web", "--mfa-required", "none", "--idle-kill-timeout", "-1", "--guest-ttl-limit", "0")
		v = obj(t, c.want(t, 0, "OK", "mem", "groupInfo", "--group", "web"))
		if v["mfa_required"] != nil || v["idle_kill_timeout"] != nil || v["guest_ttl_limit"] != nil {
			t.Fatalf("groupInfo after reset: %v", v)
		}
		c.want(t, 100, "ERR_NOT_GROUP_OWNER", "gk", "groupModify", "--group", "web", "--mfa-required", "none")
	})

	t.Run("egressKeys", func(t *testing.T) {
		v := obj(t, c.want(t, 0, "OK", "alice", "groupGenerateEgressKey", "--group", "web", "--algo", "ecdsa", "--size", "256"))
		if v["typecode"] != "ecdsa-sha2-nistp256" || v["family"] != "ECDSA" {
			t.Fatalf("groupGenerateEgressKey: %v", v)
		}
		id := fmt.Sprint(v["id"])
		c.want(t, 100, "ERR_NOT_GROUP_OWNER", "gk", "groupGenerateEgressKey", "--group", "web", "--algo", "ed25519")
		c.want(t, 100, "ERR_MISSING_PARAMETER", "alice", "groupGenerateEgressKey", "--group", "web")
		keys := obj(t, obj(t, c.want(t, 0, "OK", "mem", "groupInfo", "--group", "web"))["keys"])
		if len(keys) != 2 || keys[v["fingerprint"].(string)] == nil {
			t.Fatalf("groupInfo keys: %v", keys)
		}
		c.want(t, 100, "ERR_NOT_GROUP_OWNER", "gk", "groupDelEgressKey", "--group", "web", "--id", id)
		d := obj(t, c.want(t, 0, "OK", "alice", "groupDelEgressKey", "--group", "web", "--id", id))
		if fmt.Sprint(d["id"]) != id || d["fingerprint"] != v["fingerprint"] {
			t.Fatalf("groupDelEgressKey value: %v", d)
		}
		var last string
		for fp := range obj(t, obj(t, c.want(t, 0, "OK", "mem", "groupInfo", "--group", "web"))["keys"]) {
			last = fp
		}
		c.want(t, 100, "ERR_LAST_KEY", "alice", "groupDelEgressKey", "--group", "web", "--fingerprint", last)
		c.want(t, 100, "ERR_NOT_FOUND", "alice", "groupDelEgressKey", "--group", "web", "--id", id)
	})

	t.Run("hostKeys", func(t *testing.T) {
		ctx := context.Background()
		st := b.App.Store
		for _, k := range []store.KnownHost{{Account: "mem", HostPort: "127.0.0.2"}, {Account: "mem", HostPort: "[127.0.0.2]:2222"}, {Account: "ak", HostPort: "127.0.0.2"}} {
			k.Key, k.AddedAt = []byte("key-"+k.Account+k.HostPort), time.Now()
			if err := st.AddKnownHost(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		count := func(account, hp string) int {
			l, err := st.KnownHostKeys(ctx, account, hp)
			if err != nil {
				t.Fatal(err)
			}
			return len(l)
		}
		c.want(t, 100, "KO_INVALID_PORT", "mem", "selfForgetHostKey", "--host", "127.0.0.2", "--port", "70000")
		c.want(t, 100, "KO_INVALID_IP", "mem", "selfForgetHostKey", "--host", "127.0.0.0/8")
		// The Bastion's value: {"127.0.0.2": {"action": "OK_DELETED"}}, then OK_NO_MATCH.
		v := obj(t, c.want(t, 0, "OK", "mem", "selfForgetHostKey", "--host", "127.0.0.2"))
		if obj(t, v["127.0.0.2"])["action"] != "OK_DELETED" || count("mem", "127.0.0.2") != 0 || count("mem", "[127.0.0.2]:2222") != 1 || count("ak", "127.0.0.2") != 1 {
			t.Fatalf("selfForgetHostKey: %v", v)
		}
		if v := obj(t, c.want(t, 0, "OK", "mem", "selfForgetHostKey", "--host", "127.0.0.2")); obj(t, v["127.0.0.2"])["action"] != "OK_NO_MATCH" {
			t.Fatalf("selfForgetHostKey again: %v", v)
		}
		if v := obj(t, c.want(t, 0, "OK", "mem", "selfForgetHostKey", "--host", "127.0.0.2", "--port", "2222")); obj(t, v["[127.0.0.2]:2222"])["action"] != "OK_DELETED" {
			t.Fatalf("selfForgetHostKey --port 2222: %v", v)
		}
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "mem", "assetForgetHostKey", "--host", "127.0.0.2")
		v = obj(t, c.want(t, 0, "OK", "admin", "assetForgetHostKey", "--host", "127.0.0.2", "--port", "22"))
		if v["deleted"] != float64(1) || v["changed_files"] != float64(1) || count("ak", "127.0.0.2") != 0 {
			t.Fatalf("assetForgetHostKey: %v", v)
		}
	})

	t.Run("transmitAndDestroy", func(t *testing.T) {
		c.want(t, 0, "OK_NO_CHANGE", "alice", "groupTransmitOwnership", "--group", "web", "--account", "alice")
		c.want(t, 0, "OK", "alice", "groupTransmitOwnership", "--group", "web", "--account", "gk")
		v := obj(t, c.want(t, 0, "OK", "gk", "groupInfo", "--group", "web"))
		same(t, "owners after transmit", strs(v["owners"]), []string{"gk"})
		same(t, "alice keeps her other roles", strs(v["members"]), []string{"alice", "mem"})
		same(t, "gatekeepers after transmit", strs(v["gatekeepers"]), []string{"alice", "gk"})
		// alice owns nothing now: refused before the command.
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "alice", "groupModify", "--group", "web", "--mfa-required", "any")

		c.wantIn(t, "nope\n", 100, "ERR_OPERATOR_IS_DRUNK", "gk", "groupDestroy", "--group", "web")
		c.want(t, 0, "OK", "mem", "groupInfo", "--group", "web")
		c.wantIn(t, "web\n", 0, "OK", "gk", "groupDestroy", "--group", "web")
		c.want(t, 100, "KO_GROUP_NOT_FOUND", "mem", "groupInfo", "--group", "web")
		c.want(t, 0, "OK_EMPTY", "mem", "groupList")
		same(t, "mem's accesses after destroy", func() []string {
			var out []string
			for _, a := range c.want(t, 0, "OK", "mem", "selfListAccesses").([]any) {
				out = append(out, a.(map[string]any)["type"].(string))
			}
			return out
		}(), []string{"personal"})
		// groupDelete is The Bastion's restricted command, not an alias: an owner without the
		// grant is refused; an admin deletes.
		c.want(t, 106, "KO_RESTRICTED_COMMAND", "gk", "groupDelete", "--group", "db", "--no-confirm")
		c.want(t, 0, "OK", "admin", "groupDelete", "--group", "db", "--no-confirm")
		c.want(t, 0, "OK_EMPTY", "plain", "groupList", "--all")
	})
}
