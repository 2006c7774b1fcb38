// Package e2e drives a real gatehouse with the real OpenSSH client.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

func TestInfoHelpAndJSONFraming(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	r := b.Admin("--json-greppable", "--osh", "info")
	if r.Exit != 0 {
		t.Fatalf("info exit %d: %s %s", r.Exit, r.Stdout, r.Stderr)
	}
	j := r.JSON()
	v, _ := j["value"].(map[string]any)
	if j["command"] != "info" || j["error_code"] != "OK" || v["account"] != "admin" || v["is_admin"] != float64(1) ||
		v["mfa_totp_configured"] != float64(0) {
		t.Fatalf("info JSON: %v", j)
	}
	if !strings.Contains(r.Stdout, "You are admin") {
		t.Fatalf("human output missing: %s", r.Stdout)
	}
	// --json: JSON_START / body / JSON_END, and the option may come after the command.
	r = b.Admin("--osh", "help", "--json")
	if !strings.Contains(r.Stdout, "\nJSON_START\n{\"command\":\"help\"") || !strings.Contains(r.Stdout, "}\nJSON_END\n") {
		t.Fatalf("--json framing: %q", r.Stdout)
	}
	r = b.Admin("--json-pretty", "--osh", "help")
	if !strings.Contains(r.Stdout, "JSON_START\n{\n   \"command\" : ") && !strings.Contains(r.Stdout, "JSON_START\n{\n   \"command\": ") {
		t.Fatalf("--json-pretty framing: %q", r.Stdout)
	}
	// --quiet drops the box.
	r = b.Admin("--quiet", "--osh", "info")
	if strings.Contains(r.Stdout, "╭") || !strings.Contains(r.Stdout, "You are admin") {
		t.Fatalf("--quiet output: %q", r.Stdout)
	}
}

func TestAccountsLifecycleAndRoles(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob", "--comment", `"a robot"`, "--ttl", "30d")

	// bob logs in and sees himself.
	r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	if r.Exit != 0 || r.JSON()["value"].(map[string]any)["account"] != "bob" {
		t.Fatalf("bob info: %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}
	// A plain account is refused restricted commands, before any command runs.
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountList")
	j := r.JSON()
	if r.Exit != 106 || j["command"] != nil || j["error_code"] != "KO_RESTRICTED_COMMAND" ||
		j["error_message"] != "Sorry, this command is restricted and requires you to be specifically granted" || j["value"] != nil {
		t.Fatalf("restricted refusal: exit %d %v", r.Exit, j)
	}
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "noSuchCommand")
	if r.Exit != 104 || r.Code() != "KO_UNKNOWN_COMMAND" || r.JSON()["command"] != nil {
		t.Fatalf("unknown command: exit %d %s", r.Exit, r.Stdout)
	}
	// Grant, use, revoke.
	r = b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "accountList")
	r = b.Admin("--json-greppable", "--osh", "accountGrantCommand", "--account", "bob", "--command", "accountList")
	if r.Code() != "OK_NO_CHANGE" {
		t.Fatalf("second grant: %s", r.Code())
	}
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountList")
	if r.Exit != 0 {
		t.Fatalf("granted accountList: %d %s", r.Exit, r.Stdout)
	}
	if _, ok := r.JSON()["value"].(map[string]any)["bob"]; !ok {
		t.Fatalf("accountList value lacks bob: %v", r.JSON())
	}
	// bob may not grant himself more.
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountGrantCommand", "--account", "bob", "--command", "accountCreate")
	if r.Exit != 106 {
		t.Fatalf("self-grant: exit %d", r.Exit)
	}
	b.MustOK("--osh", "accountRevokeCommand", "--account", "bob", "--command", "accountList")
	if r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountList"); r.Exit != 106 {
		t.Fatalf("after revoke: exit %d", r.Exit)
	}
	// Auditor pseudo-command.
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "auditor")
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	if r.JSON()["value"].(map[string]any)["is_auditor"] != float64(1) {
		t.Fatalf("auditor flag: %v", r.JSON())
	}
	// accountInfo: integer booleans, grants, TTL.
	r = b.MustOK("--osh", "accountInfo", "--account", "bob")
	v := r.JSON()["value"].(map[string]any)
	if v["is_active"] != float64(1) || v["always_active"] != float64(0) || v["comment"] != "a robot" || v["ttl_expires"] == nil ||
		v["mfa_totp_configured"] != float64(0) || v["mfa_password_required"] != float64(0) || v["is_ttl_set"] != float64(1) {
		t.Fatalf("accountInfo: %v", v)
	}
	// accountModify: OK then OK_NO_CHANGE, per option.
	r = b.MustOK("--osh", "accountModify", "--account", "bob", "--osh-only", "yes", "--idle-ignore", "yes")
	v = r.JSON()["value"].(map[string]any)
	if v["osh_only"].(map[string]any)["error_code"] != "OK" || v["idle_ignore"].(map[string]any)["error_code"] != "OK" {
		t.Fatalf("accountModify: %v", v)
	}
	r = b.MustOK("--osh", "accountModify", "--account", "bob", "--osh-only", "yes")
	if r.JSON()["value"].(map[string]any)["osh_only"].(map[string]any)["error_code"] != "OK_NO_CHANGE" {
		t.Fatalf("accountModify repeat: %v", r.JSON())
	}
	// Freeze: bob is refused with 131; unfreeze lets him back.
	b.MustOK("--osh", "accountFreeze", "--account", "bob", "--reason", "holiday")
	r = b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	if r.Exit != 131 || !strings.Contains(r.Stdout, "frozen (holiday)") {
		t.Fatalf("frozen: exit %d %s", r.Exit, r.Stdout)
	}
	b.MustOK("--osh", "accountUnfreeze", "--account", "bob")
	if r = b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("unfrozen: exit %d", r.Exit)
	}
	// Delete: the account can no longer log in.
	b.MustOK("--osh", "accountDelete", "--account", "bob", "--no-confirm")
	if r = b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 255 || !strings.Contains(r.Stderr, "Permission denied (publickey,keyboard-interactive).") {
		t.Fatalf("deleted account logs in: exit %d %s", r.Exit, r.Stderr)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	_, pub := testenv.NewKey(t, "ed25519", "x")
	_, rsa1024 := func() (string, string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "weak")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		data, _ := os.ReadFile(p + ".pub")
		return p, strings.TrimSpace(string(data))
	}()
	for _, tc := range []struct {
		name  string
		words []string
		code  string
		exit  int
		msg   string
	}{
		{"slash", []string{"--osh", "accountCreate", "--account", "a/b", "--public-key", fmt.Sprintf("%q", pub)}, "ERR_INVALID_ACCOUNT", 100, "forbidden characters"},
		{"200 chars", []string{"--osh", "accountCreate", "--account", strings.Repeat("a", 200), "--public-key", fmt.Sprintf("%q", pub)}, "ERR_INVALID_ACCOUNT", 100, "too long"},
		{"bad key", []string{"--osh", "accountCreate", "--account", "carol", "--public-key", "ssh-ed25519", "AAAAnope"}, "KO_NOT_A_KEY", 100, "does not parse"},
		{"weak rsa", []string{"--osh", "accountCreate", "--account", "carol", "--public-key", fmt.Sprintf("%q", rsa1024)}, "KO_KEY_SIZE_TOO_SMALL", 100, "too weak"},
		{"unknown option", []string{"--osh", "accountCreate", "--account", "carol", "--colour", "red"}, "ERR_BAD_OPTIONS", 100, "unknown option --colour"},
		{"flag twice", []string{"--osh", "accountCreate", "--account", "carol", "--account", "dave"}, "ERR_BAD_OPTIONS", 100, "given twice"},
		{"bastion option twice", []string{"-p", "22", "-p", "23", "host"}, "KO_GETOPTS_FAILED", 111, "given twice"},
		{"bad ttl", []string{"--osh", "accountCreate", "--account", "carol", "--ttl", "forever"}, "ERR_BAD_OPTIONS", 100, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.Admin(append([]string{"--json-greppable"}, tc.words...)...)
			if r.Exit != tc.exit || r.Code() != tc.code || !strings.Contains(r.Stdout, tc.msg) {
				t.Fatalf("exit %d code %q, want %d %q with %q\n%s", r.Exit, r.Code(), tc.exit, tc.code, tc.msg, r.Stdout)
			}
		})
	}
	// Nothing was created by any of them.
	r := b.MustOK("--osh", "accountList")
	if n := len(r.JSON()["value"].(map[string]any)); n != 1 {
		t.Fatalf("bad input created accounts: %v", r.JSON()["value"])
	}
	// A 1 MB command line: refused (the connection or the bastion says no), nothing changes, and
	// the bastion keeps serving.
	big := make([]string, 10)
	for i := range big {
		big[i] = strings.Repeat("x", 100_000)
	}
	r = b.Admin(append([]string{"--json-greppable", "--osh", "accountCreate", "--account", "huge", "--comment"}, big...)...)
	if r.Exit == 0 {
		t.Fatalf("1 MB line accepted")
	}
	if r = b.MustOK("--osh", "accountList"); len(r.JSON()["value"].(map[string]any)) != 1 {
		t.Fatalf("1 MB line changed the store")
	}
	// A 100 kB line reaches the bastion and is refused with the limit named.
	r = b.Admin("--json-greppable", "--osh", "info", "--comment", strings.Repeat("y", 100_000))
	if r.Exit != 111 || !strings.Contains(r.Stdout, "too long") {
		t.Fatalf("100 kB line: exit %d %.300s", r.Exit, r.Stdout)
	}
}

func TestIngressKeysFromAndBinding(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	aliceKey := b.CreateAccount("alice")
	// Keys from stdin, of each accepted kind.
	for _, kind := range []string{"ecdsa", "rsa"} {
		k, pub := testenv.NewKey(t, kind, "alice-"+kind)
		r := b.SSHIn(strings.NewReader(pub+"\n"), aliceKey, "alice", "--json-greppable", "--osh", "selfAddIngressKey", "--public-key-file", "-")
		if r.Exit != 0 {
			t.Fatalf("add %s key: %d %s", kind, r.Exit, r.Stdout)
		}
		if r = b.SSH(k, "alice", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("login with %s key: %d %s", kind, r.Exit, r.Stderr)
		}
	}
	r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListIngressKeys")
	keys := r.JSON()["value"].(map[string]any)["keys"].([]any)
	if len(keys) != 3 {
		t.Fatalf("want 3 keys, got %v", keys)
	}
	// from= that excludes loopback: the key is refused at login.
	far, farPub := testenv.NewKey(t, "ed25519", "far")
	r = b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfAddIngressKey", "--public-key", fmt.Sprintf("%q", `from="10.0.0.0/8" `+farPub))
	if r.Exit != 0 {
		t.Fatalf("add from= key: %s", r.Stdout)
	}
	if r = b.SSH(far, "alice", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("from=10/8 key used from 127.0.0.1: exit %d", r.Exit)
	}
	near, nearPub := testenv.NewKey(t, "ed25519", "near")
	b.SSH(aliceKey, "alice", "--osh", "selfAddIngressKey", "--public-key", fmt.Sprintf("%q", `from="127.0.0.0/8,!127.0.0.2" `+nearPub))
	if r = b.SSH(near, "alice", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("from=127/8 key: exit %d %s", r.Exit, r.Stderr)
	}
	// Binding: offering alice's public key (without its private half) and then signing with
	// another key must not log in as alice.
	mallory, _ := testenv.NewKey(t, "ed25519", "mallory")
	pubOnly := filepath.Join(t.TempDir(), "alice.pub")
	data, _ := os.ReadFile(aliceKey + ".pub")
	os.WriteFile(pubOnly, data, 0o600)
	args := append(b.SSHArgs("", "alice"), "-o", "IdentitiesOnly=yes", "-i", pubOnly, "-i", mallory, "--", "--osh", "info")
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("offered-only key logged in: %v %s", err, out)
	}
	// selfDelIngressKey refuses an unknown key and removes a known one.
	r = b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfDelIngressKey", "--fingerprint-to-delete", "SHA256:nope")
	if r.Code() != "ERR_NO_MATCH" {
		t.Fatalf("delete unknown key: %s", r.Code())
	}
	fp := strings.Fields(string(mustRun(t, "ssh-keygen", "-lf", near+".pub")))[1]
	if r = b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfDelIngressKey", "--fingerprint-to-delete", fp); r.Exit != 0 {
		t.Fatalf("delete key: %s", r.Stdout)
	}
	if r = b.SSH(near, "alice", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("deleted key still logs in")
	}
}

func mustRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v %s", name, err, out)
	}
	return out
}

func TestEgressKeysAndBatch(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "egressKeysFrom = [\"192.0.2.10\"]\n"})
	r := b.MustOK("--osh", "selfListEgressKeys")
	keys := egressKeyList(t, r.JSON()["value"])
	if len(keys) != 1 || !strings.HasPrefix(keys[0]["fullline"].(string), `from="192.0.2.10" ssh-ed25519 `) ||
		!strings.HasPrefix(keys[0]["line"].(string), "ssh-ed25519 ") ||
		keys[0]["prefix"] != `from="192.0.2.10"` || keys[0]["family"] != "ED25519" {
		t.Fatalf("egress keys: %v", keys)
	}
	r = b.MustOK("--osh", "selfGenerateEgressKey", "--algo", "ecdsa", "--size", "384")
	if r.JSON()["value"].(map[string]any)["typecode"] != "ecdsa-sha2-nistp384" {
		t.Fatalf("generated: %v", r.JSON())
	}
	r = b.Admin("--json-greppable", "--osh", "selfGenerateEgressKey", "--algo", "rsa", "--size", "1024")
	if r.Exit != 100 || !strings.Contains(r.Stdout, "between 2048 and 8192") {
		t.Fatalf("weak egress key: %d %s", r.Exit, r.Stdout)
	}
	// The private halves are sealed in the store: no PEM in the database file.
	db, _ := os.ReadFile(filepath.Join(b.DataDir, "gatehouse.db"))
	if strings.Contains(string(db), "PRIVATE KEY") {
		t.Fatal("egress private key stored in clear")
	}
	// batch: one result per line.
	r = b.SSHIn(strings.NewReader("info\naccountList --json\nnoSuch\nquit\nhelp\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "batch")
	if r.Exit != 0 {
		t.Fatalf("batch: %d %s", r.Exit, r.Stdout)
	}
	items := r.JSON()["value"].([]any)
	if len(items) != 3 {
		t.Fatalf("batch items: %v", items)
	}
	codes := []string{}
	for _, it := range items {
		codes = append(codes, it.(map[string]any)["result"].(map[string]any)["error_code"].(string))
	}
	// A line's --json is dropped, as The Bastion's batch does: accountList runs.
	if strings.Join(codes, ",") != "OK,OK,KO_UNKNOWN_COMMAND" {
		t.Fatalf("batch codes: %v", codes)
	}
}

func TestRestartKeepsStateAndHostKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	b := testenv.Start(t, testenv.Options{DataDir: dir})
	bobKey := b.CreateAccount("bob", "--osh-only")
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "accountInfo")
	hostKey, _ := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	b.Stop()

	b2 := testenv.Start(t, testenv.Options{DataDir: dir, Admin: b.AdminKey})
	hostKey2, _ := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key.pub"))
	if string(hostKey) != string(hostKey2) || len(hostKey) == 0 {
		t.Fatal("host key changed across restart")
	}
	r := b2.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountInfo", "--account", "bob")
	if r.Exit != 0 {
		t.Fatalf("bob after restart: %d %s", r.Exit, r.Stdout)
	}
	v := r.JSON()["value"].(map[string]any)
	if fmt.Sprint(v["allowed_commands"]) != "[accountInfo]" {
		t.Fatalf("state after restart: %v", v)
	}
	// bob is no auditor: osh_only is for the admin's eyes (The Bastion's least privilege).
	if v := b2.MustOK("--osh", "accountInfo", "--account", "bob").JSON()["value"].(map[string]any); v["osh_only"] != float64(1) {
		t.Fatalf("osh_only after restart: %v", v)
	}
	for _, f := range []string{"gatehouse.db", "seal.key", "ssh_host_ed25519_key", "ssh_host_ecdsa_key"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v err %v, want 0600", f, st.Mode().Perm(), err)
		}
	}
}

func TestUnauthenticatedFloodIsBounded(t *testing.T) {
	// The global bound alone: the per-source ones are tested in frontdoor_test.go.
	b := testenv.Start(t, testenv.Options{Config: "maxStartups = \"10:50:40\"\nloginGraceTime = 2\nperSourceMaxStartups = 0\nperSourcePenalties = false\n"})
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 1000; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", b.Addr, 5*time.Second)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	st := b.App.Server.Stats()
	if kept := st.Accepted.Load() - st.DroppedStartups.Load(); kept > 40 || st.Accepted.Load() < 1000 {
		t.Fatalf("%d of %d idle connections kept, want at most 40 (maxStartups full=40)", kept, st.Accepted.Load())
	}
	// After loginGraceTime the survivors are closed by the bastion, and a real login works.
	time.Sleep(2500 * time.Millisecond)
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("login after the flood: exit %d %s", r.Exit, r.Stderr)
	}
	for _, c := range conns[:5] {
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("an idle unauthenticated connection is still open after loginGraceTime")
				}
				break
			}
		}
	}
}

func TestInactivityExpiryAndUnexpire(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "accountMaxInactiveDays = 30\n"})
	bobKey := b.CreateAccount("bob")
	if r := b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("first login: %d", r.Exit)
	}
	ctx := context.Background()
	b.App.Store.UpdateAccount(ctx, "bob", func(a *store.Account) error {
		a.LastSeenAt = time.Now().Add(-31 * 24 * time.Hour)
		return nil
	})
	r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	if r.Exit != 113 || r.Code() != "KO_ACCOUNT_EXPIRED" {
		t.Fatalf("expired account: exit %d %s", r.Exit, r.Code())
	}
	// The refused login does not count as activity: still expired.
	if r = b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 113 {
		t.Fatalf("second try: exit %d", r.Exit)
	}
	b.MustOK("--osh", "accountUnexpire", "--account", "bob")
	if r = b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("after accountUnexpire: exit %d %s", r.Exit, r.Stdout)
	}
	// The Bastion's codes for an account that was not expired (its activity is refreshed).
	if r = b.Admin("--json-greppable", "--osh", "accountUnexpire", "--account", "bob"); r.Code() != "OK_NOT_EXPIRED" || r.Exit != 0 {
		t.Fatalf("unexpire an active account: %s", r.Code())
	}
}

// TestAlwaysActiveAccountsConfig: an account named in alwaysActiveAccounts is never expired by
// inactivity, and accountInfo says why (The Bastion's reason); another account still is.
func TestAlwaysActiveAccountsConfig(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "accountMaxInactiveDays = 30\nalwaysActiveAccounts = [\"robot\"]\n"})
	ctx := context.Background()
	keys := map[string]string{}
	for _, n := range []string{"robot", "bob"} {
		keys[n] = b.CreateAccount(n)
		if r := b.SSH(keys[n], n, "--osh", "info"); r.Exit != 0 {
			t.Fatalf("%s first login: %d", n, r.Exit)
		}
		if err := b.App.Store.UpdateAccount(ctx, n, func(a *store.Account) error {
			a.LastSeenAt = time.Now().Add(-31 * 24 * time.Hour)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if r := b.SSH(keys["bob"], "bob", "--json-greppable", "--osh", "info"); r.Exit != 113 {
		t.Fatalf("bob, not listed, inactive: exit %d %s", r.Exit, r.Code())
	}
	if r := b.SSH(keys["robot"], "robot", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("robot, listed in alwaysActiveAccounts: exit %d %s", r.Exit, r.Code())
	}
	v := b.MustOK("--json-greppable", "--osh", "accountInfo", "--account", "robot").JSON()["value"].(map[string]any)
	if v["always_active"] != float64(1) || v["always_active_reason"] != "account listed in global configuration" || v["is_active"] != float64(1) {
		t.Errorf("accountInfo robot: always_active %v (%v), is_active %v", v["always_active"], v["always_active_reason"], v["is_active"])
	}
}

func TestMaintenanceMode(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	// Only admins may switch it.
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "adminMaintenance", "--lock"); r.Exit != 106 {
		t.Fatalf("non-admin adminMaintenance: exit %d", r.Exit)
	}
	b.MustOK("--osh", "adminMaintenance", "--lock", "--message", "upgrading, back at noon")
	r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info")
	if r.Exit != 118 || r.Code() != "KO_MAINTENANCE_MODE" || !strings.Contains(r.Stdout, "upgrading, back at noon") {
		t.Fatalf("during maintenance: exit %d %s", r.Exit, r.Stdout)
	}
	if r = b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("admin during maintenance: exit %d", r.Exit)
	}
	b.MustOK("--osh", "adminMaintenance", "--unlock")
	if r = b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("after maintenance: exit %d", r.Exit)
	}
}
