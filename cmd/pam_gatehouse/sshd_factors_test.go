package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/connect"
	"gatehouse/internal/sshtest"
)

// sshdFactorTarget starts a site whose server web1 (127.0.0.1) asks factor for logins through
// the sshd of a fresh PAM service (a rule for that service), and that sshd; top is the rest of
// the bastion's configuration.
func sshdFactorTarget(t *testing.T, factor string, moduleArgs []string, top ...string) (*site, *sshtest.SSHD, string, string) {
	t.Helper()
	svc := sshdServiceName()
	s := startSiteRules(t, fmt.Sprintf("[[pam.servers.web1.rule]]\nservice = %q\nfactor = %q\n", svc, factor), top...)
	s.person(t, "alice")
	s.person(t, "bob")
	so, helper := build(t)
	args := append(s.args("web1", "ask_ticket=yes"), moduleArgs...)
	sshd, _, user := sshdTargetNamed(t, s, svc, fmt.Sprintf("auth required %s helper=%s %s", so, helper, strings.Join(args, " ")))
	return s, sshd, svc, user
}

// TestSSHLoginChatCodeThroughGatehouse: a target whose sshd asks the chat code (factor
// "webhook"): the person logs in with the real ssh through gatehouse on a terminal, the code
// posted to the team's chat is typed at the target's prompt relayed by gatehouse; the audit
// names her; an old code is refused.
func TestSSHLoginChatCodeThroughGatehouse(t *testing.T) {
	need(t)
	hook := newChatHook(t)
	s, sshd, svc, user := sshdFactorTarget(t, "webhook", nil, `MFAMode = "jit"`,
		fmt.Sprintf("[notify]\ncodes = [\"ops\"]\n[notify.channels.ops]\nkind = \"slack\"\nurl = %q\ntimeout = \"2s\"\n", hook.URL+"/hooks/ops"))
	dest, port := user+"@127.0.0.1", fmt.Sprint(sshd.Port)

	term := s.b.SSHTerminal(s.keys["alice"], "alice", 100, 30, dest, "-p", port, "echo LOGIN_$((6*7))")
	defer term.Close()
	at := term.Expect(0, "Code posted to the team's chat for session", 20*time.Second)
	label, code := hook.code(t, 1)
	term.Send(code + "\r")
	term.Expect(at, "LOGIN_42", 20*time.Second)
	if c := term.Wait(10 * time.Second); c != 0 {
		t.Fatalf("exit %d:\n%s\nsshd: %s", c, term.Output(), sshd.Log())
	}
	if !strings.Contains(term.Output(), label) || strings.Contains(term.Output(), "Gatehouse ticket") || strings.Contains(term.Output(), code) {
		t.Fatalf("the terminal (label %s shown, ticket prompt and code not):\n%s", label, term.Output())
	}
	if c := lastComment(t, s.b); !strings.Contains(c, svc+" on web1 by alice as "+user+": chat code ok") {
		t.Fatalf("audit comment %q", c)
	}

	// The same code for the next login (a new code was posted): refused.
	term = s.b.SSHTerminal(s.keys["alice"], "alice", 100, 30, dest, "-p", port, "echo LOGIN_$((6*7))")
	defer term.Close()
	term.Expect(0, "Code posted to the team's chat for session", 20*time.Second)
	hook.code(t, 2)
	term.Send(code + "\r")
	if c := term.Wait(30 * time.Second); c == 0 || strings.Contains(term.Output(), "LOGIN_42") {
		t.Fatalf("an old chat code logged in: exit %d\n%s", c, term.Output())
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "by alice as "+user+": refused: wrong chat code") {
		t.Fatalf("audit comment %q", c)
	}
}

// TestSSHLoginApprovalThroughGatehouse: a target whose sshd asks a colleague's approval: the
// person's real ssh through gatehouse waits, told by gatehouse that the target is still
// checking (sshd holds the module's own line back); her own click is refused (four eyes), bob's
// lets the login through, audited "approved by bob"; bob's denial refuses the next one.
func TestSSHLoginApprovalThroughGatehouse(t *testing.T) {
	need(t)
	hook := newChatHook(t)
	s, sshd, svc, user := sshdFactorTarget(t, "approval", []string{"approval_wait=30s"}, `MFAMode = "jit"`, "approvalListen = \"127.0.0.1:0\"",
		"[notify]\napprovals = [\"ops\"]\n"+
			fmt.Sprintf("[notify.channels.ops]\nkind = \"slack\"\nurl = %q\ntimeout = \"2s\"\n", hook.URL+"/hooks/ops")+
			"[notify.approval]\nttl = \"20s\"\nslack_signing_secret = \""+slackSecret+"\"\nslack_team_id = \"T0TEAM\"\nslack_app_id = \"A0APP\"\n")
	s.b.MustOK("--osh", "accountModify", "--account", "alice", "--slack-user-id", "T0TEAM/U0ALICE")
	s.b.MustOK("--osh", "accountModify", "--account", "bob", "--slack-user-id", "T0TEAM/U0BOB")
	callback := "http://" + s.b.App.Notify.ApprovalAddr() + "/slack/interactive"
	dest, port := user+"@127.0.0.1", fmt.Sprint(sshd.Port)

	term := s.b.SSHTerminal(s.keys["alice"], "alice", 100, 30, dest, "-p", port, "echo LOGIN_$((6*7))")
	defer term.Close()
	id := hook.requestID(t, 1)
	// sshd holds back the module's "waiting for approval" line until the login ends: gatehouse
	// tells the person what the silence is.
	term.Expect(0, connect.TargetQuietNotice, 20*time.Second)
	if got := slackClick(t, callback, "U0ALICE", "gatehouse_approve", id); got == http.StatusOK {
		t.Fatalf("alice approved her own login: HTTP %d", got)
	}
	if got := slackClick(t, callback, "U0BOB", "gatehouse_approve", id); got != http.StatusOK {
		t.Fatalf("bob's approval: HTTP %d", got)
	}
	term.Expect(0, "LOGIN_42", 20*time.Second)
	if c := term.Wait(10 * time.Second); c != 0 {
		t.Fatalf("exit %d:\n%s\nsshd: %s", c, term.Output(), sshd.Log())
	}
	if c := lastComment(t, s.b); !strings.Contains(c, svc+" on web1 by alice as "+user+": approved by bob") {
		t.Fatalf("audit comment %q", c)
	}
	t.Logf("the person's terminal:\n%s", term.Output())

	term = s.b.SSHTerminal(s.keys["alice"], "alice", 100, 30, dest, "-p", port, "echo LOGIN_$((6*7))")
	defer term.Close()
	id = hook.requestID(t, 2)
	if got := slackClick(t, callback, "U0BOB", "gatehouse_deny", id); got != http.StatusOK {
		t.Fatalf("bob's denial: HTTP %d", got)
	}
	if c := term.Wait(30 * time.Second); c == 0 || strings.Contains(term.Output(), "LOGIN_42") {
		t.Fatalf("a denied login went through: exit %d\n%s", c, term.Output())
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "by alice as "+user+": refused: denied by bob") {
		t.Fatalf("audit comment %q", c)
	}
}
