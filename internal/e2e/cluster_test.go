package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// clusterSSH runs the real ssh client against node b with strict host key checking, one
// known_hosts file for the whole cluster and one name for it (HostKeyAlias), as a user behind a
// load balancer sees it: the first connection learns the key, every later one, on any node,
// must be offered that same key.
func clusterSSH(t *testing.T, b *testenv.Bastion, knownHosts, strict, key, account string, words ...string) testenv.Result {
	t.Helper()
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=" + strict,
		"-o", "UserKnownHostsFile=" + knownHosts, "-o", "HostKeyAlias=gatehouse-cluster", "-o", "LogLevel=ERROR",
		"-o", "IdentityAgent=none", "-o", "ConnectTimeout=10", "-o", "IdentitiesOnly=yes", "-i", key, "-p", b.Port,
		account + "@" + b.Host, "--"}
	return runSSH(t, append(args, words...))
}

// runSSH runs the real ssh client with args and returns what it gave.
func runSSH(t *testing.T, args []string) testenv.Result {
	t.Helper()
	cmd := exec.Command("ssh", args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return testenv.Result{Stdout: out.String(), Stderr: errb.String(), Exit: code}
}

// TestClusterTwoNodes: two nodes started at the same moment on one empty PostgreSQL make one
// first admin and one set of host keys; an account created through node A logs in on node B
// (strict host key checking, one known_hosts for both); a TOTP code used on A is refused on B;
// maintenance mode set through A holds on B; the session list shows every node's sessions with
// the node's name.
func TestClusterTwoNodes(t *testing.T) {
	ctx := context.Background()
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: "MFARateLimitAttempts = 10\n"})
	a, b := nodes[0], nodes[1]

	accts, err := b.App.Store.ListAccounts(ctx)
	if err != nil || len(accts) != 1 || accts[0].Name != "admin" {
		t.Fatalf("two nodes started together made accounts %v (%v); want one first admin", accts, err)
	}

	kh := filepath.Join(t.TempDir(), "known_hosts")
	bob := a.CreateAccount("bob")
	if r := clusterSSH(t, a, kh, "accept-new", bob, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("bob on node A: exit %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}
	if r := clusterSSH(t, b, kh, "yes", bob, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 || r.Code() != "OK" {
		t.Fatalf("bob, created through node A, on node B with the same known_hosts: exit %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}

	// A TOTP code accepted on node A is a replay on node B.
	a.MustOK("--osh", "accountModify", "--account", "bob", "--mfa-totp-required", "yes")
	secret := enrolTOTP(t, a, "bob")
	code := oathtool(t, secret, "")
	term := startKbd(t, a, kbdOpts{key: bob}, "bob", "--json-greppable", "--osh", "info")
	term.expect(0, "Verification code: ")
	term.send(code + "\n")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("TOTP login on node A: exit %d\n%s", exit, res.Stdout)
	}
	term = startKbd(t, b, kbdOpts{key: bob}, "bob", "--json-greppable", "--osh", "info")
	off := term.expect(0, "Verification code: ")
	term.send(code + "\n")
	off = term.expect(off, "Verification code: ") // refused: asked again
	if strings.Contains(term.output(), "JSON_OUTPUT=") {
		t.Fatal("node B accepted the code node A had used")
	}
	term.send(oathtool(t, secret, "now + 30 seconds") + "\n")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("the next code on node B: exit %d\n%s", exit, res.Stdout[off:])
	}

	// One scratch code typed at the same moment on node A and on node B: exactly one gets in.
	_ = enrolTOTP(t, a, "bob", "31415926") // only its scratch code is typed below
	one := startKbd(t, a, kbdOpts{key: bob}, "bob", "--json-greppable", "--osh", "info")
	two := startKbd(t, b, kbdOpts{key: bob}, "bob", "--json-greppable", "--osh", "info")
	o1, o2 := one.expect(0, "Verification code: "), two.expect(0, "Verification code: ")
	one.send("31415926\n")
	two.send("31415926\n")
	winners, losers := 0, 0
	for deadline := time.Now().Add(15 * time.Second); winners+losers < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		winners, losers = 0, 0
		for i, k := range []*kbdTerm{one, two} {
			out := k.output()[[]int{o1, o2}[i]:]
			switch {
			case strings.Contains(out, "JSON_OUTPUT="):
				winners++
			case strings.Contains(out, "Verification code: "): // asked again: refused
				losers++
			}
		}
	}
	if winners != 1 || losers != 1 {
		t.Fatalf("one scratch code on two nodes at once: %d winners, %d refused\n--- A:\n%s\n--- B:\n%s", winners, losers, one.output(), two.output())
	}
	one.close()
	two.close()

	// Maintenance mode switched through node A holds on node B.
	carol := a.CreateAccount("carol")
	a.MustOK("--osh", "adminMaintenance", "--lock", "--message", "cluster upgrade")
	if r := b.SSH(carol, "carol", "--json-greppable", "--osh", "info"); r.Exit != 118 || !strings.Contains(r.Stdout, "cluster upgrade") {
		t.Fatalf("node B during maintenance set on A: exit %d %s", r.Exit, r.Stdout)
	}
	b.MustOK("--osh", "adminMaintenance", "--unlock")
	if r := a.SSH(carol, "carol", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("node A after the unlock through B: exit %d", r.Exit)
	}

	// Both nodes' sessions, each with its node.
	sessions, err := a.App.Store.ListSessions(ctx, store.SessionFilter{Account: "bob", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range sessions {
		seen[s.Node] = true
	}
	if !seen["node-a"] || !seen["node-b"] || len(seen) != 2 {
		t.Fatalf("bob's sessions by node: %v", seen)
	}
	// The session list, asked on either node, names the node of each session.
	r := b.MustOK("--osh", "accountListSessions", "--account", "bob")
	list, _ := r.JSON()["value"].([]any)
	listed := map[any]bool{}
	for _, v := range list {
		if m, ok := v.(map[string]any); ok {
			listed[m["node"]] = true
		}
	}
	if !listed["node-a"] || !listed["node-b"] {
		t.Fatalf("accountListSessions on node B shows nodes %v", listed)
	}
	if h := b.Admin("--osh", "accountListSessions", "--account", "bob"); !strings.Contains(h.Stdout, "node=node-a") || !strings.Contains(h.Stdout, "node=node-b") {
		t.Fatalf("the human session list does not name the nodes:\n%s", h.Stdout)
	}
}
