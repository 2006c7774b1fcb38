package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// An approval clicked in the console lets the waiting ssh login through: bob, the bound approver,
// sees alice's request and approves it; alice's own console offers her no Approve button, and a
// forged POST of hers is refused.
func TestWebConsoleApprovalInChromium(t *testing.T) {
	b, key, _, _ := approvalBastion(t, "approvers = [\"bob\"]\n[web]\nlisten = \"127.0.0.1:0\"\n")
	shots := screenshots(t)
	bobURL, _ := webLogin(t, b, key, "bob")
	base := strings.SplitN(bobURL, "/login", 2)[0]
	bob := browser(t)
	if st := status(t, bob, bobURL); st != 200 {
		t.Fatalf("bob login: %d", st)
	}

	term := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	off := term.expect(0, "a request for session ")
	label := labelAfter(t, term.output, 0)
	off = term.expect(off, "Waiting for approval of session "+label+": ")

	status(t, bob, base+"/approvals")
	if tbl := pageText(t, bob, "#approvals"); !strings.Contains(tbl, label) || !strings.Contains(tbl, "alice") {
		t.Fatalf("bob's approvals: %q", tbl)
	}
	shoot(t, bob, shots, "approvals")
	if err := chromedp.Do(withTimeout(bob, 10*time.Second), chromedp.Click("#approvals button.approve"), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("approve click: %v", err)
	}
	term.expect(off, "Session "+label+" approved by bob.")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "alice" {
		t.Fatalf("approved login: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "approval.decided", `"approver":"bob"`, `"via":"web"`, `"state":"approved"`)

	// alice's webLogin itself waits for an approval, which bob gives in his console: her console
	// login is as strong as her SSH login.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "webLogin")
	term.expect(0, "a request for session ")
	approveIn(t, bob, base, labelAfter(t, term.output, 0))
	exit, res := term.wait()
	aliceURL, _ := jsonValue(res, "value", "url").(string)
	if exit != 0 || aliceURL == "" {
		t.Fatalf("alice's webLogin: exit %d\n%s", exit, res.Stdout)
	}
	alice := browser(t)
	if st := status(t, alice, aliceURL); st != 200 {
		t.Fatalf("alice login: %d", st)
	}

	// alice's own request: listed for her with Deny only; a hand-made approve POST is refused.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	term.expect(0, "a request for session ")
	label = labelAfter(t, term.output, 0)
	status(t, alice, base+"/approvals")
	if tbl := pageText(t, alice, "#approvals"); !strings.Contains(tbl, label) || strings.Contains(tbl, "Approve") || !strings.Contains(tbl, "Deny") {
		t.Fatalf("alice's approvals: %q", tbl)
	}
	code, err := chromedp.Run(withTimeout(alice, 10*time.Second), chromedp.Evaluate[int](`(() => {
		const f = document.querySelector("form.decide");
		const body = new URLSearchParams({csrf: f.csrf.value, action: "approve"});
		return fetch(f.getAttribute("action"), {method: "POST", body}).then(r => r.status);
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || code != 403 {
		t.Fatalf("alice approving herself: %d %v", code, err)
	}
	if err := chromedp.Do(withTimeout(alice, 10*time.Second), chromedp.Click("#approvals button.deny"), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("deny click: %v", err)
	}
	if exit, _ := term.wait(); exit != 255 {
		t.Fatalf("withdrawn request: exit %d", exit)
	}
}

// approveIn clicks Approve on the row of the request labelled label.
func approveIn(t *testing.T, ctx context.Context, base, label string) {
	t.Helper()
	status(t, ctx, base+"/approvals")
	if tbl := pageText(t, ctx, "#approvals"); !strings.Contains(tbl, label) {
		t.Fatalf("request %s not listed: %q", label, tbl)
	}
	if err := chromedp.Do(withTimeout(ctx, 10*time.Second), chromedp.Click("#approvals button.approve"), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("approve click: %v", err)
	}
}
