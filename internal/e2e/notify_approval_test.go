package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

const slackSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// approvalBastion: alice and carol need approval at login; bob approves (Slack user U0BOB);
// alice's own Slack id is U0ALICE (four eyes refuses her). Requests go to Slack with buttons,
// except carol's (group ops) which go to a Teams workflow with links bound to bob.
func approvalBastion(t *testing.T, extra ...string) (*testenv.Bastion, string, *hook, *hook) {
	slack, teams := newHook(t, "slack"), newHook(t, "teams-workflow")
	cfg := "approvalListen = \"127.0.0.1:0\"\nloginGraceTime = 60\n[notify]\napprovals = [\"slack\"]\n" +
		channelTOML("slack", slack, "") + channelTOML("teams", teams, "approver = \"bob\"\n") +
		"[notify.groups.ops]\nchannels = [\"teams\"]\n" +
		"[notify.approval]\nttl = \"10s\"\nfour_eyes = true\nslack_signing_secret = \"" + slackSecret + "\"\nslack_team_id = \"T0TEAM\"\nslack_app_id = \"A0APP\"\n" +
		strings.Join(extra, "")
	b := testenv.Start(t, testenv.Options{Config: cfg})
	keyFile, pub := testenv.NewKey(t, "ed25519", "approval")
	createAccounts(t, b, pub, "alice", "bob", "carol")
	group(t, b, "ops", "", "carol")
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-approval-required", "yes", "--slack-user-id", "U0ALICE")
	b.MustOK("--osh", "accountModify", "--account", "carol", "--mfa-approval-required", "yes")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--slack-user-id", "T0TEAM/U0BOB")
	if r := b.Admin("--json-greppable", "--osh", "accountModify", "--account", "bob", "--slack-user-id", "<!channel>"); r.Exit == 0 {
		t.Fatalf("a bad Slack id was accepted: %s", r.Stdout)
	}
	return b, keyFile, slack, teams
}

// Approval through Slack's buttons: forged, stale, self-approving (four eyes) and unknown
// callbacks are refused while the user waits with a countdown; bob's signed click lets the
// login through and is audited with his account and Slack identity; the same callback
// replayed, or a new one for the decided request, is refused.
func TestNotifyApprovalSlack(t *testing.T) {
	b, key, slack, _ := approvalBastion(t)
	callback := "http://" + b.App.Notify.ApprovalAddr() + "/slack/interactive"

	term := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	off := term.expect(0, "a request for session ")
	label := labelAfter(t, term.output, 0)
	off = term.expect(off, "Waiting for approval of session "+label+": ")
	msg := slack.waitFor(t, label)
	id := slackRequestID(t, msg)
	if !strings.Contains(string(msg.Body), `"action_id":"gatehouse_deny"`) || !strings.Contains(string(msg.Body), "alice") {
		t.Fatalf("approval message: %s", msg.Body)
	}
	now := time.Now().Unix()
	for _, tc := range []struct {
		name           string
		secret         string
		ts             int64
		team, user, id string
		want           int
	}{
		{"forged signature", "not-the-secret", now, "T0TEAM", "U0BOB", id, http.StatusUnauthorized},
		{"stale timestamp", slackSecret, now - 400, "T0TEAM", "U0BOB", id, http.StatusUnauthorized},
		{"future timestamp", slackSecret, now + 400, "T0TEAM", "U0BOB", id, http.StatusUnauthorized},
		{"requester approves herself", slackSecret, now, "T0TEAM", "U0ALICE", id, http.StatusForbidden},
		{"unknown Slack user", slackSecret, now + 1, "T0TEAM", "U0EVE", id, http.StatusForbidden},
		{"other workspace", slackSecret, now + 2, "T0OTHER", "U0BOB", id, http.StatusForbidden},
		{"unknown request", slackSecret, now + 3, "T0TEAM", "U0BOB", "00112233445566778899aabbccddeeff", http.StatusNotFound},
	} {
		body, h := slackCallback(tc.secret, tc.ts, tc.team, tc.user, "gatehouse_approve", tc.id)
		if got := post(t, callback, body, h); got != tc.want {
			t.Fatalf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
	// Still waiting: none of the above decided anything.
	if strings.Contains(term.output(), "approved") {
		t.Fatalf("a refused callback approved:\n%s", term.output())
	}
	body, h := slackCallback(slackSecret, now, "T0TEAM", "U0BOB", "gatehouse_approve", id)
	if got := post(t, callback, body, h); got != http.StatusOK {
		t.Fatalf("bob's signed approval: HTTP %d", got)
	}
	term.expect(off, "Session "+label+" approved by bob.")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "alice" {
		t.Fatalf("approved login: exit %d\n%s", exit, res.Stdout)
	}
	if got := post(t, callback, body, h); got != http.StatusUnauthorized {
		t.Fatalf("replayed callback: HTTP %d, want 401", got)
	}
	body, h = slackCallback(slackSecret, now+5, "T0TEAM", "U0BOB", "gatehouse_deny", id)
	if got := post(t, callback, body, h); got != http.StatusConflict {
		t.Fatalf("callback for a decided request: HTTP %d, want 409", got)
	}
	auditHas(t, b, "approval.decided", `"account":"alice"`, `"approver":"bob"`, `"via":"slack"`, `"chat_user":"T0TEAM/U0BOB"`, `"state":"approved"`, label)
	auditHas(t, b, "mfa.pass", `"factor":"approval"`, `"approver":"bob"`, label)
	auditHas(t, b, "approval.refused", `"approver":"alice"`, "four eyes")

	// Denied by bob: refused, and the terminal says by whom.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	term.expect(0, "a request for session ")
	label = labelAfter(t, term.output, 0)
	body, h = slackCallback(slackSecret, time.Now().Unix(), "T0TEAM", "U0BOB", "gatehouse_deny", slackRequestID(t, slack.waitFor(t, label)))
	if got := post(t, callback, body, h); got != http.StatusOK {
		t.Fatalf("bob's denial: HTTP %d", got)
	}
	exit, res := term.wait()
	if exit != 255 || !strings.Contains(res.Stdout, "session "+label+" was not approved (denied by bob)") || strings.Contains(res.Stdout, "JSON_OUTPUT") {
		t.Fatalf("denied login: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "mfa.fail", `"factor":"approval"`, `"reason":"denied by bob"`)

	// Only forged callbacks arrive: nobody approves, the request expires and the login is refused;
	// a genuine click after that is told the request expired.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	term.expect(0, "a request for session ")
	label = labelAfter(t, term.output, 0)
	id = slackRequestID(t, slack.waitFor(t, label))
	body, h = slackCallback("forged", time.Now().Unix(), "T0TEAM", "U0BOB", "gatehouse_approve", id)
	if got := post(t, callback, body, h); got != http.StatusUnauthorized {
		t.Fatalf("forged: HTTP %d", got)
	}
	exit, res = term.wait()
	if exit != 255 || !strings.Contains(res.Stdout, "was not approved (no answer in time)") || strings.Contains(res.Stdout, "JSON_OUTPUT") {
		t.Fatalf("unanswered request: exit %d\n%s", exit, res.Stdout)
	}
	body, h = slackCallback(slackSecret, time.Now().Unix(), "T0TEAM", "U0BOB", "gatehouse_approve", id)
	if got := post(t, callback, body, h); got != http.StatusGone {
		t.Fatalf("approval after expiry: HTTP %d, want 410", got)
	}
}

// Approval through a signed link (Teams has no signed buttons): GET only shows a confirmation
// page, a POST without the form's confirmation does nothing, the confirmed POST approves as the
// account the link is bound to, and the link cannot be used twice.
func TestNotifyApprovalLink(t *testing.T) {
	b, key, slack, teams := approvalBastion(t)
	term := startKbd(t, b, kbdOpts{key: key}, "carol", "--json-greppable", "--osh", "info")
	off := term.expect(0, "a request for session ")
	label := labelAfter(t, term.output, 0)
	msg := teams.waitFor(t, label)
	approve, _ := links(t, msg.Body)
	if len(slack.requests()) != 0 {
		t.Fatal("carol's request went to the default channel instead of her group's")
	}
	resp, err := http.Get(approve)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	if resp.StatusCode != 200 || !strings.Contains(page, label) || !strings.Contains(page, `method="post"`) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET approve link: %d\n%s", resp.StatusCode, page)
	}
	if got := post(t, approve, "", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); got != http.StatusBadRequest {
		t.Fatalf("POST without confirmation: HTTP %d, want 400", got)
	}
	time.Sleep(1200 * time.Millisecond) // at least one poll: a GET or an unconfirmed POST must not have approved
	if strings.Contains(term.output(), "approved") {
		t.Fatalf("a GET approved the request:\n%s", term.output())
	}
	if got := post(t, approve, "confirm=approve", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); got != http.StatusOK {
		t.Fatalf("confirmed POST: HTTP %d", got)
	}
	term.expect(off, "Session "+label+" approved by bob.")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "carol" {
		t.Fatalf("link-approved login: exit %d\n%s", exit, res.Stdout)
	}
	if got := post(t, approve, "confirm=approve", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}); got != http.StatusConflict {
		t.Fatalf("second use of the link: HTTP %d, want 409", got)
	}
	auditHas(t, b, "approval.decided", `"account":"carol"`, `"approver":"bob"`, `"via":"link"`, `"state":"approved"`)
}

// JIT approval for a command, on a terminal: the countdown is rewritten in place every second
// until alice (another account, mapped to her Slack user) approves bob's request.
func TestNotifyApprovalJITCountdown(t *testing.T) {
	b, key, slack, _ := approvalBastion(t, "[plugin.groupList]\nmfa_required = \"approval\"\n")
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "bob", "--json-greppable", "--osh", "groupList")
	off := term.expect(0, "As this is required to run this plugin, entering MFA phase for bob.")
	off = term.expect(off, "a request for session ")
	label := labelAfter(t, term.output, 0)
	term.expect(off, "Waiting for approval of session "+label+": ")
	time.Sleep(2200 * time.Millisecond)
	if n := strings.Count(term.output(), "\r\x1b[KWaiting for approval of session "+label); n < 2 {
		t.Fatalf("the countdown was shown %d times in 2 s:\n%q", n, term.output())
	}
	body, h := slackCallback(slackSecret, time.Now().Unix(), "T0TEAM", "U0ALICE", "gatehouse_approve", slackRequestID(t, slack.waitFor(t, label)))
	if got := post(t, "http://"+b.App.Notify.ApprovalAddr()+"/slack/interactive", body, h); got != http.StatusOK {
		t.Fatalf("alice approves bob's request: HTTP %d", got)
	}
	off = term.expect(off, "Session "+label+" approved by alice.")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "command") != "groupList" {
		t.Fatalf("groupList after approval: exit %d\n%s", exit, res.Stdout)
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}
