package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// TestClusterSessionControlsReachOtherNode: alice's relayed session runs on node B; `lock`
// and `unlock` she types through node A lock and unlock it, and an admin freezing her through
// node A ends it, each within a second (PostgreSQL LISTEN/NOTIFY).
func TestClusterSessionControlsReachOtherNode(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: "metricsListen = \"127.0.0.1:0\"\n"})
	a, b := nodes[0], nodes[1]
	sshd, aliceKey := targetSetup(t, a)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo on-b-$((1+1))\r")
	off = term.Expect(off, "on-b-2", 10*time.Second)

	if r := a.SSH(aliceKey, "alice", "--osh", "lock"); r.Exit != 0 {
		t.Fatalf("lock through node A: exit %d %s", r.Exit, r.Stdout)
	}
	off = term.Expect(off, "This session is locked", time.Second)
	if r := a.SSH(aliceKey, "alice", "--osh", "unlock"); r.Exit != 0 {
		t.Fatalf("unlock through node A: exit %d %s", r.Exit, r.Stdout)
	}
	off = term.Expect(off, "Session unlocked", time.Second)

	start := time.Now()
	a.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "incident 7")
	term.Expect(off, "incident 7", time.Second)
	if code := term.Wait(time.Second); code != 131 {
		t.Fatalf("the session on node B ended with %d, want 131 (frozen)", code)
	}
	t.Logf("freeze through node A ended the session on node B in %s", time.Since(start).Round(time.Millisecond))
	// The operator sees the controls go out and come in (lock, unlock, end).
	if m := metric(t, a, "gatehouse_cluster_session_controls_sent_total"); m != "3" {
		t.Errorf("node A sent %s session controls, want 3", m)
	}
	if m := metric(t, b, "gatehouse_cluster_session_controls_received_total"); m != "3" {
		t.Errorf("node B received %s session controls, want 3", m)
	}
	if m := metric(t, b, "gatehouse_cluster_listening"); m != "1" {
		t.Errorf("node B listening: %s", m)
	}
}

// metric reads one unlabelled metric from a node's /metrics.
func metric(t *testing.T, b *testenv.Bastion, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + b.App.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestClusterApprovalThroughOtherNode: carol's login waits for approval on node B; the signed
// link is opened on node A (as a load balancer may route it), node A decides, and the login
// waiting on node B goes through. The link key is one for the cluster (sealed in the store).
func TestClusterApprovalThroughOtherNode(t *testing.T) {
	teams := newHook(t, "teams-workflow")
	cfg := "approvalListen = \"127.0.0.1:0\"\nloginGraceTime = 60\n[notify]\napprovals = [\"teams\"]\n" +
		channelTOML("teams", teams, "approver = \"bob\"\n") + "[notify.approval]\nttl = \"20s\"\n"
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: cfg})
	a, b := nodes[0], nodes[1]
	keyFile, pub := testenv.NewKey(t, "ed25519", "approval")
	createAccounts(t, a, pub, "bob", "carol")
	a.MustOK("--osh", "accountModify", "--account", "carol", "--mfa-approval-required", "yes")

	term := startKbd(t, b, kbdOpts{key: keyFile}, "carol", "--json-greppable", "--osh", "info")
	off := term.expect(0, "a request for session ")
	label := labelAfter(t, term.output, 0)
	approve, _ := links(t, teams.waitFor(t, label).Body)
	viaA := strings.Replace(approve, b.App.Notify.ApprovalAddr(), a.App.Notify.ApprovalAddr(), 1)
	if viaA == approve {
		t.Fatalf("the link %s does not point at node B (%s)", approve, b.App.Notify.ApprovalAddr())
	}
	if got := post(t, viaA, "confirm=approve", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); got != http.StatusOK {
		t.Fatalf("approval through node A: HTTP %d", got)
	}
	term.expect(off, "Session "+label+" approved by bob.")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "carol" {
		t.Fatalf("login on node B after the approval on node A: exit %d\n%s", exit, res.Stdout)
	}
	// The link is spent on every node.
	if got := post(t, approve, "confirm=approve", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); got != http.StatusConflict {
		t.Fatalf("the same link on node B: HTTP %d, want 409", got)
	}
}

// TestClusterLockoutSpansNodes: an attacker holding bob's key guesses TOTP codes on both nodes
// in turn to get twice the tries; the failures add up in the store, the factor locks after
// MFALockAfterFailures whatever the node, and accountUnlock through the other node lifts it.
func TestClusterLockoutSpansNodes(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: "MFALockAfterFailures = 2\nMFARateLimitAttempts = 10\n"})
	a, b := nodes[0], nodes[1]
	bob := a.CreateAccount("bob")
	a.MustOK("--osh", "accountModify", "--account", "bob", "--mfa-totp-required", "yes")
	secret := enrolTOTP(t, a, "bob")
	// One wrong code on node A: asked again (one failure of two).
	term := startKbd(t, a, kbdOpts{key: bob}, "bob", "--osh", "info")
	off := term.expect(0, "Verification code: ")
	term.send(wrongCode(oathtool(t, secret, "")) + "\n")
	term.expect(off, "Verification code: ")
	term.close()
	// One wrong code on node B: the second failure, counted with node A's: locked at once.
	term = startKbd(t, b, kbdOpts{key: bob}, "bob", "--osh", "info")
	off = term.expect(0, "Verification code: ")
	term.send(wrongCode(oathtool(t, secret, "")) + "\n")
	if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout[off:], "Verification code") {
		t.Fatalf("the second failure (on node B) did not lock: exit %d\n%s", exit, res.Stdout)
	}
	term = startKbd(t, a, kbdOpts{key: bob}, "bob", "--osh", "info")
	if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout, "Verification code") {
		t.Fatalf("after one failure on each node, node A still prompts: exit %d\n%s", exit, res.Stdout)
	}
	b.MustOK("--osh", "accountUnlock", "--account", "bob")
	term = startKbd(t, a, kbdOpts{key: bob}, "bob", "--json-greppable", "--osh", "info")
	term.expect(0, "Verification code: ")
	term.send(oathtool(t, secret, "") + "\n")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("after accountUnlock through node B: exit %d\n%s", exit, res.Stdout)
	}
}
