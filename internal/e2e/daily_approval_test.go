package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// consoleAs is an account's web console session, opened with its own webLogin link, driven
// with plain HTTP requests (as curl would: the cookie, and the CSRF token of its pages).
type consoleAs struct {
	t            *testing.T
	client       *http.Client
	base, cookie string
	csrf         string
}

func openConsole(t *testing.T, b *testenv.Bastion, key, account string) *consoleAs {
	t.Helper()
	loginURL, _ := webLogin(t, b, key, account)
	c := &consoleAs{t: t, client: &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the console's self-signed certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
	c.base = strings.SplitN(loginURL, "/login", 2)[0]
	resp, err := c.client.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		c.cookie = ck.Name + "=" + ck.Value
	}
	if resp.StatusCode != http.StatusSeeOther || c.cookie == "" {
		t.Fatalf("%s's console login: %d", account, resp.StatusCode)
	}
	page := c.get("/approvals")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on %s's page:\n%s", account, page)
	}
	c.csrf = m[1]
	return c
}

func (c *consoleAs) get(path string) string {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Cookie", c.cookie)
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// decide posts action on request id, as the console's form does, and returns the HTTP status.
func (c *consoleAs) decide(id, action string) int {
	c.t.Helper()
	form := url.Values{"action": {action}, "csrf": {c.csrf}}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/approvals/"+id, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", c.cookie)
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestApprovalLinkInChatLeadsToConsole: with the default four eyes and an approver named in
// the configuration, an approval posted to an ntfy channel bound to nobody (the same goes for
// Discord, Teams, Mattermost) carries a link to the web console's approvals page, where whoever
// clicks is who their webLogin session says: the requester and a non-approver are refused and
// the login keeps waiting; the named approver's approval lets the waiting ssh through. On main
// the message carried signed links that nobody could use (unidentified), in silence.
func TestApprovalLinkInChatLeadsToConsole(t *testing.T) {
	ntfy := newHook(t, "ntfy")
	cfg := "approvalListen = \"127.0.0.1:0\"\nloginGraceTime = 60\n[plugin.info]\nmfa_required = \"approval\"\n" +
		"[notify]\napprovals = [\"phone\"]\n" + channelTOML("phone", ntfy, "") +
		"[notify.groups.ops]\nchannels = [\"phone\"]\napprovers = [\"dave\"]\n" +
		"[notify.approval]\nttl = \"30s\"\napprovers = [\"bob\"]\n[web]\nlisten = \"127.0.0.1:0\"\n"
	b := testenv.Start(t, testenv.Options{Config: cfg})
	key, pub := testenv.NewKey(t, "ed25519", "people")
	createAccounts(t, b, pub, "alice", "bob", "carol", "dave", "erin")
	group(t, b, "ops", "", "erin")
	alice, bob, carol := openConsole(t, b, key, "alice"), openConsole(t, b, key, "bob"), openConsole(t, b, key, "carol")

	term := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	off := term.expect(0, "a request for session ")
	label := labelAfter(t, term.output, 0)
	off = term.expect(off, "Waiting for approval of session "+label)
	msg := ntfy.waitFor(t, label)
	if shown := msg.Header.Get("Actions") + string(msg.Body); !strings.Contains(shown, bob.base+"/approvals?session="+label) || strings.Contains(shown, "/approval/") {
		t.Fatalf("the ntfy message does not lead to the console's approvals page (%s):\n%s", bob.base, shown)
	}
	m := regexp.MustCompile(`action="/approvals/([0-9a-f]+)"`).FindStringSubmatch(bob.get("/approvals"))
	if m == nil {
		t.Fatalf("bob's approvals page does not list alice's request")
	}
	id := m[1]
	if got := carol.decide(id, "approve"); got != http.StatusForbidden {
		t.Fatalf("carol, not an approver: HTTP %d", got)
	}
	if got := alice.decide(id, "approve"); got != http.StatusForbidden {
		t.Fatalf("alice, the requester: HTTP %d", got)
	}
	if out := term.output(); strings.Contains(out[off:], "approved") {
		t.Fatalf("approved by someone who may not:\n%s", out[off:])
	}
	if got := bob.decide(id, "approve"); got != http.StatusSeeOther {
		t.Fatalf("bob, the approver: HTTP %d", got)
	}
	term.expect(off, "approved by bob")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "alice" {
		t.Fatalf("approved login: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "approval.decided", `"approver":"bob"`, `"via":"web"`, `"state":"approved"`)

	// A member of ops: the group's approver decides too (the config's and the group's named).
	dave := openConsole(t, b, key, "dave")
	term = startKbd(t, b, kbdOpts{key: key}, "erin", "--json-greppable", "--osh", "info")
	off = term.expect(0, "a request for session ")
	label = labelAfter(t, term.output, 0)
	off = term.expect(off, "Waiting for approval of session "+label)
	ntfy.waitFor(t, label)
	m = regexp.MustCompile(`action="/approvals/([0-9a-f]+)"`).FindStringSubmatch(dave.get("/approvals"))
	if m == nil {
		t.Fatalf("dave's approvals page does not list erin's request")
	}
	if got := dave.decide(m[1], "approve"); got != http.StatusSeeOther {
		t.Fatalf("dave, the group's approver: HTTP %d", got)
	}
	term.expect(off, "approved by dave")
	if exit, _ := term.wait(); exit != 0 {
		t.Fatalf("erin's approved login: exit %d", exit)
	}
}
