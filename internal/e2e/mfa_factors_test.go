package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// factorBastion: a bastion whose chat (a stand-in Slack) carries codes and approvals, bob
// approves from Slack (T0TEAM/U0BOB), and group "secure" (mfa_required req) holds a server
// that only counts connections. alice is a member of it. It returns the bastion, alice's key,
// the chat, the server's port and its connection count.
// notify adds keys to the [notify] table.
func factorBastion(t *testing.T, cfg, req string, notify ...string) (*testenv.Bastion, string, *hook, string, func() int) {
	t.Helper()
	slack := newHook(t, "slack")
	b := testenv.Start(t, testenv.Options{Config: "approvalListen = \"127.0.0.1:0\"\n" + cfg + "[notify]\napprovals = [\"slack\"]\ncodes = [\"slack\"]\n" +
		strings.Join(notify, "") +
		channelTOML("slack", slack, "") +
		"[notify.approval]\nttl = \"20s\"\nslack_signing_secret = \"" + slackSecret + "\"\nslack_team_id = \"T0TEAM\"\nslack_app_id = \"A0APP\"\n"})
	ctx := context.Background()
	st := b.App.Store
	keyFile, pub := testenv.NewKey(t, "ed25519", "factors")
	createAccounts(t, b, pub, "alice", "bob")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--slack-user-id", "T0TEAM/U0BOB")
	group(t, b, "secure", req, "alice")
	if _, err := common.StoreNewEgressKey(ctx, st, b.App.Env.Sealer, "group", "secure", "ed25519", 256, time.Now()); err != nil {
		t.Fatal(err)
	}
	port, attempts := countingListener(t)
	p, _ := strconv.Atoi(port)
	if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "secure", Host: "127.0.0.1", Port: p, AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return b, keyFile, slack, port, attempts
}

// decideApproval answers the approval request of session label as bob, from Slack.
func decideApproval(t *testing.T, b *testenv.Bastion, slack *hook, label, action string) {
	t.Helper()
	body, h := slackCallback(slackSecret, time.Now().Unix(), "T0TEAM", "U0BOB", action, slackRequestID(t, slack.waitFor(t, label)))
	if got := post(t, "http://"+b.App.Notify.ApprovalAddr()+"/slack/interactive", body, h); got != http.StatusOK {
		t.Fatalf("bob's %s: HTTP %d", action, got)
	}
}

// Issue 9, bypass 1: with --proactive-mfa, the person's own password used to stand in for the
// group's approval (no chat request was even posted) and for its webhook code.
func TestMFAProactiveDoesNotStandInForChatFactors(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "", "approval")
	const pw = "proactive secret 1"
	setPassword(t, b, "alice", pw)

	// Immediate login (password), --proactive-mfa (password again), then the group's approval,
	// which bob denies: no connection.
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--proactive-mfa", "root@127.0.0.1", "-p", port)
	off := term.expect(0, "Password: ")
	term.send(pw + "\n")
	off = term.expect(off, "As proactive MFA has been requested, entering MFA phase for alice.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "(MFA REQUIRED: APPROVAL)")
	off = term.expect(off, "As this is required for this host, entering MFA phase for alice.")
	off = term.expect(off, "a request for session ")
	label := labelAfter(t, term.output, off-len("a request for session "))
	decideApproval(t, b, slack, label, "gatehouse_deny")
	exit, res := term.wait()
	if exit != 125 || res.Code() != "KO_MFA_FAILED" || attempts() != 0 || !strings.Contains(res.Stdout, "(denied by bob)") {
		t.Fatalf("proactive MFA then a denied approval: exit %d, %d connections\n%s", exit, attempts(), res.Stdout)
	}

	// The interactive `mfa` gives the same proofs, and the same answer: [MFA-OK], yet each
	// connection to the group's server waits for an approval.
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "-i")
	off = term.expect(0, "Password: ")
	term.send(pw + "\n")
	off = term.expect(off, "alice@gatehouse(master)> ")
	term.send("mfa\r")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "alice@gatehouse(master)[MFA-OK]> ")
	term.send("root@127.0.0.1 -p " + port + "\r")
	off = term.expect(off, "a request for session ")
	label = labelAfter(t, term.output, off-len("a request for session "))
	decideApproval(t, b, slack, label, "gatehouse_deny")
	off = term.expect(off, "(denied by bob)")
	term.expect(off, "[MFA-OK]> ")
	term.send("exit\r")
	if exit, _ := term.wait(); exit != 0 || attempts() != 0 {
		t.Fatalf("interactive mfa then a denied approval: exit %d, %d connections", exit, attempts())
	}

	// The group's webhook code: asked after --proactive-mfa, and the connection made only then.
	b.MustOK("--osh", "groupModify", "--group", "secure", "--mfa-required", "webhook")
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--proactive-mfa", "root@127.0.0.1", "-p", port)
	off = term.expect(0, "Password: ")
	term.send(pw + "\n")
	off = term.expect(off, "entering MFA phase for alice.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "(MFA REQUIRED: WEBHOOK)")
	off = term.expect(off, "Code for session ")
	label = labelAfter(t, term.output, off-len("Code for session "))
	if attempts() != 0 {
		t.Fatal("connected before the code was typed")
	}
	term.send(codeIn(t, slack.waitFor(t, label).Body, label) + "\r")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res := term.wait(); exit != 255 || attempts() != 1 {
		t.Fatalf("proactive MFA then the code: exit %d (255 from the fake target), %d connections\n%s", exit, attempts(), res.Stdout)
	}
}

// Issue 9, bypass 2: in JIT mode, the account's own --mfa-password-required yes was asked
// before the accesses and then counted as proactive for 900 s, so the group's approval was
// never asked, even with proactive MFA disabled. Now the connection's phase asks the union:
// the password and the approval, and a second connection asks both again.
func TestMFAJITAccountFlagDoesNotSkipGroupApproval(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "MFAMode = \"jit\"\ninteractiveModeProactiveMFAenabled = false\n", "approval")
	const pw = "jit secret 22"
	setPassword(t, b, "alice", pw)
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-password-required", "yes")

	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "-i")
	off := term.expect(0, "alice@gatehouse(master)> ")
	for i := 1; i <= 2; i++ {
		term.send("root@127.0.0.1 -p " + port + "\r")
		off = term.expect(off, "As this is required for this host, entering MFA phase for alice.")
		off = term.expect(off, "Password: ")
		term.send(pw + "\r")
		off = term.expect(off, "a request for session ")
		label := labelAfter(t, term.output, off-len("a request for session "))
		if attempts() != i-1 {
			t.Fatalf("connection %d made before the approval", i)
		}
		decideApproval(t, b, slack, label, "gatehouse_approve")
		off = term.expect(off, "Session "+label+" approved by bob.")
		off = term.expect(off, "alice@gatehouse(master)> ")
		if attempts() != i {
			t.Fatalf("connection %d: %d connections made\n%s", i, attempts(), term.output())
		}
	}
	term.send("exit\r")
	if exit, _ := term.wait(); exit != 0 {
		t.Fatalf("interactive exit %d", exit)
	}
}

// Issue 9, bypass 3: an account with --mfa-webhook-required yes (JIT mode) was asked only the
// chat code where its group requires a password. Now: the password, then the code.
func TestMFAWebhookAccountStillAskedGroupPassword(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "MFAMode = \"jit\"\n", "password")
	const pw = "webhook and password 3"
	setPassword(t, b, "alice", pw)
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-webhook-required", "yes")

	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "root@127.0.0.1", "-p", port)
	off := term.expect(0, "entering MFA phase for alice.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "Code for session ")
	label := labelAfter(t, term.output, off-len("Code for session "))
	term.send(codeIn(t, slack.waitFor(t, label).Body, label) + "\r")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res := term.wait(); exit != 255 || attempts() != 1 || !strings.Contains(res.Stdout, "(MFA REQUIRED: PASSWORD)") {
		t.Fatalf("password and code: exit %d, %d connections\n%s", exit, attempts(), res.Stdout)
	}

	// A wrong password ends it before any code is posted, and nothing connects.
	before := len(slack.requests())
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "root@127.0.0.1", "-p", port)
	off = 0
	for range 3 {
		off = term.expect(off, "Password: ")
		term.send("wrong\r")
	}
	if exit, res := term.wait(); exit != 125 || attempts() != 1 || len(slack.requests()) != before {
		t.Fatalf("wrong password: exit %d, %d connections, %d messages\n%s", exit, attempts(), len(slack.requests())-before, res.Stdout)
	}
}

// Issue 9, point 4: without a pty the client's terminal shows what is typed, so the bastion
// refuses to ask a password there (and says to use ssh -t) for a command, a host, proactive
// MFA and the password change; on a pty it asks without echo, and neither the output nor the
// session's recording holds the password.
func TestMFANoPasswordWithoutTerminal(t *testing.T) {
	b, key, _, port, attempts := factorBastion(t, "MFAMode = \"jit\"\n[plugin.help]\nmfa_required = \"password\"\n", "password")
	const pw = "never shown 44"
	setPassword(t, b, "alice", pw)

	for _, words := range [][]string{
		{"--json-greppable", "--osh", "help"},
		{"--json-greppable", "root@127.0.0.1", "-p", port},
		{"--json-greppable", "--proactive-mfa", "--osh", "info"},
		{"--json-greppable", "--proactive-mfa", "--osh", "batch"},
	} {
		r := b.SSHIn(strings.NewReader(pw+"\n"+pw+"\nhelp\n"), key, "alice", words...)
		all := r.Stdout + r.Stderr
		if r.Exit != 125 || r.Code() != "KO_MFA_FAILED" || !strings.Contains(all, "reconnect with `ssh -t`") ||
			strings.Contains(all, "Password: ") || strings.Contains(all, "OSH help") || attempts() != 0 {
			t.Fatalf("%v without a pty: exit %d, %d connections\n%s", words, r.Exit, attempts(), all)
		}
	}
	auditHas(t, b, "mfa.phase_refused", `"account":"alice"`, `"reason":"no terminal"`, `"stage":"proactive"`)
	auditHas(t, b, "mfa.phase_refused", `"account":"alice"`, `"reason":"no terminal"`, `"stage":"jit"`, `"command":"help"`)
	r := b.SSHIn(strings.NewReader(pw+"\n"), key, "alice", "--json-greppable", "--osh", "selfMFASetupPassword")
	if all := r.Stdout + r.Stderr; r.Exit == 0 || strings.Contains(all, "Current password: ") || !strings.Contains(all, "ssh -t") {
		t.Fatalf("selfMFASetupPassword without a pty: exit %d\n%s", r.Exit, all)
	}

	// On a pty: asked, not echoed, not recorded.
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--osh", "help")
	off := term.expect(0, "Password: ")
	term.send(pw + "\r")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res := term.wait(); exit != 0 || strings.Contains(res.Stdout, pw) {
		t.Fatalf("help on a pty: exit %d\n%s", exit, res.Stdout)
	}
	b.Stop()
	files, _ := filepath.Glob(filepath.Join(b.DataDir, "recordings", "alice", "*"))
	var helpRec bool
	for _, f := range files {
		data := testenv.RecordingCast(t, f)
		if strings.Contains(string(data), pw) {
			t.Fatalf("the password is in the recording %s", f)
		}
		helpRec = helpRec || strings.Contains(string(data), "Password: ")
	}
	if !helpRec {
		t.Fatalf("no recording of the password prompt among %d files", len(files))
	}
}

// Siblings of the bypasses: an expired password proves nothing but that it must be changed,
// whether it is typed for --proactive-mfa (no proof is kept) or in a phase that also asks a
// chat factor (refused before the code is even posted).
func TestMFAExpiredPasswordProvesNothing(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "MFAMode = \"jit\"\nMFAPasswordMaxDays = 30\n[plugin.help]\nmfa_required = \"password\"\n", "password")
	const pw = "expired secret 5"
	setPassword(t, b, "alice", pw)
	ctx := context.Background()
	st, err := b.App.Store.GetMFA(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.App.Store.SetMFAPassword(ctx, "alice", st.PasswordHash, time.Now().AddDate(0, 0, -31), false); err != nil {
		t.Fatal(err)
	}

	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--proactive-mfa", "--osh", "help")
	off := term.expect(0, "Password: ")
	term.send(pw + "\r")
	if exit, res := term.wait(); exit != 122 || res.Code() != "KO_MFA_PASSWORD_SETUP_REQUIRED" || strings.Contains(res.Stdout, "OSH help") {
		t.Fatalf("--proactive-mfa with an expired password: exit %d\n%s", exit, res.Stdout[min(off, len(res.Stdout)):])
	}

	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-webhook-required", "yes")
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "root@127.0.0.1", "-p", port)
	off = term.expect(0, "Password: ")
	term.send(pw + "\r")
	// On a terminal the bastion offers to change it there and then; declined, the refusal stands.
	term.expect(off, "Current password: ")
	term.send("\x03")
	if exit, res := term.wait(); exit != 122 || attempts() != 0 || len(slack.requests()) != 0 {
		t.Fatalf("expired password then a code: exit %d, %d connections, %d chat messages\n%s", exit, attempts(), len(slack.requests()), res.Stdout)
	}
}

// Sibling: when the chat is down and [notify] fallback = "password", the fallback must be a
// factor not already counted for the action. alice's password, proven by --proactive-mfa, meets
// the group's password requirement; it cannot also stand in for her own webhook code.
func TestMFAFallbackNeverReusesAProvenFactor(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "MFAMode = \"jit\"\n", "password", "fallback = \"password\"\n")
	slack.Close() // the chat is down: connection refused
	const pw = "fallback secret 6"
	setPassword(t, b, "alice", pw)
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-webhook-required", "yes")

	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--proactive-mfa", "root@127.0.0.1", "-p", port)
	off := term.expect(0, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "entering MFA phase for alice.")
	exit, res := term.wait()
	if exit != 125 || attempts() != 0 || !strings.Contains(res.Stdout, "no other factor of yours can replace it") || strings.Count(res.Stdout, "Password: ") != 1 {
		t.Fatalf("fallback onto the proven password: exit %d, %d connections\n%s", exit, attempts(), res.Stdout[min(off, len(res.Stdout)):])
	}
}
