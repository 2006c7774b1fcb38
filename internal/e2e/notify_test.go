package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/sshtest"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

var chatKinds = []string{"slack", "teams-workflow", "teams-connector", "discord", "mattermost", "ntfy", "generic"}

// checkShape asserts what each service must receive: method, path, query, headers and the
// JSON (or ntfy text) shape, with who, from where and on which bastion.
func checkShape(t *testing.T, kind string, r hookReq, account string) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != "/hooks/"+kind {
		t.Fatalf("%s: %s %s", kind, r.Method, r.Path)
	}
	ct := r.Header.Get("Content-Type")
	body := string(r.Body)
	if !strings.Contains(body, account) || !strings.Contains(body, "127.0.0.1") || !strings.Contains(body, "gatehouse") {
		t.Fatalf("%s: the message does not say who, from where and on which bastion:\n%s", kind, body)
	}
	if kind == "ntfy" {
		if !strings.HasPrefix(ct, "text/plain") || r.Header.Get("Title") == "" || r.Header.Get("Priority") != "4" || r.Header.Get("Tags") == "" {
			t.Fatalf("ntfy headers: %v", r.Header)
		}
		return
	}
	if ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", kind, ct)
	}
	m := r.JSON(t)
	switch kind {
	case "slack":
		blocks, _ := m["blocks"].([]any)
		text, _ := m["text"].(string)
		if len(blocks) < 3 || text == "" || strings.Contains(text, "Code for") {
			t.Fatalf("slack: want a text fallback without the code and blocks: %s", body)
		}
	case "teams-workflow":
		att, _ := m["attachments"].([]any)
		if m["type"] != "message" || len(att) != 1 {
			t.Fatalf("teams workflow: %s", body)
		}
		a := att[0].(map[string]any)
		c, _ := a["content"].(map[string]any)
		if a["contentType"] != "application/vnd.microsoft.card.adaptive" || c["type"] != "AdaptiveCard" || c["version"] != "1.4" {
			t.Fatalf("teams workflow card: %s", body)
		}
	case "teams-connector":
		if m["@type"] != "MessageCard" || m["@context"] != "http://schema.org/extensions" || m["summary"] == nil {
			t.Fatalf("teams connector: %s", body)
		}
	case "discord":
		am, _ := m["allowed_mentions"].(map[string]any)
		parse, ok := am["parse"].([]any)
		if r.Query != "wait=true" || m["content"] == nil || !ok || len(parse) != 0 || m["embeds"] == nil {
			t.Fatalf("discord: query %q body %s", r.Query, body)
		}
	case "mattermost":
		if m["text"] == nil || m["username"] != "gatehouse" {
			t.Fatalf("mattermost: %s", body)
		}
	case "generic":
		ts, sig := r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature")
		mac := hmac.New(sha256.New, []byte("generic-signing-secret"))
		mac.Write([]byte(ts + "." + body))
		if sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			t.Fatalf("generic signature %q does not verify", sig)
		}
		if m["event"] != "ssh.code" || m["user"] != account || m["src_ip"] != "127.0.0.1" || m["code"] == "" || m["public_code"] == "" {
			t.Fatalf("generic: %s", body)
		}
	}
}

// Immediate webhook code through every kind of channel: each account is a member of a group
// whose channel is one of the seven kinds; the login asks "Code for session X:", the test reads
// the code from what the stand-in service received and types it in the real ssh client. Then a
// wrong code, and a code typed after its expiry, are refused, and both are audited.
func TestNotifyWebhookCodeEveryChannel(t *testing.T) {
	hooks := map[string]*hook{}
	cfg := "[notify]\ncodes = [\"slack\"]\n"
	for _, k := range chatKinds {
		hooks[k] = newHook(t, k)
		cfg += channelTOML(k, hooks[k], "")
		cfg += fmt.Sprintf("[notify.groups.g-%s]\nchannels = [%q]\n", k, k)
	}
	cfg += "[notify.code]\nttl = \"5s\"\n"
	b := testenv.Start(t, testenv.Options{Config: cfg})
	keyFile, pub := testenv.NewKey(t, "ed25519", "chat")
	accounts := map[string]string{}
	for _, k := range chatKinds {
		accounts[k] = "u" + strings.ReplaceAll(k, "-", "")
		createAccounts(t, b, pub, accounts[k])
		group(t, b, "g-"+k, "", accounts[k])
	}
	// The option itself, through accountModify: OK then OK_NO_CHANGE.
	for _, want := range []string{"OK", "OK_NO_CHANGE"} {
		r := b.MustOK("--osh", "accountModify", "--account", accounts["slack"], "--mfa-webhook-required", "yes")
		if got := jsonValue(r, "value", "mfa_webhook_required", "error_code"); got != want {
			t.Fatalf("--mfa-webhook-required yes: %v, want %s", got, want)
		}
	}
	for _, k := range chatKinds[1:] {
		if err := b.App.Store.UpdateAccount(context.Background(), accounts[k], func(a *store.Account) error {
			a.Settings = map[string]string{"mfa_webhook_required": "yes"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	for _, k := range chatKinds {
		t.Run(k, func(t *testing.T) {
			account := accounts[k]
			term := startKbd(t, b, kbdOpts{key: keyFile}, account, "--json-greppable", "--osh", "info")
			off := term.expect(0, "posted to your team's chat for session ")
			label := labelAfter(t, term.output(), 0)
			term.expect(off, "Code for session "+label+": ")
			req := hooks[k].waitFor(t, label)
			checkShape(t, k, req, account)
			term.send(codeIn(t, req.Body, label) + "\n")
			if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != account {
				t.Fatalf("login with the %s code: exit %d\n%s", k, exit, res.Stdout)
			}
		})
	}
	// Each code went to its group's channel only.
	for _, k := range chatKinds {
		if n := len(hooks[k].requests()); n != 1 {
			t.Errorf("%s received %d messages, want 1 (its group's login only)", k, n)
		}
	}

	account := accounts["slack"]
	// A wrong code: refused at once (one code, one try), with the reason on the terminal.
	term := startKbd(t, b, kbdOpts{key: keyFile}, account, "--json-greppable", "--osh", "info")
	off := term.expect(0, "Code for session ")
	label := labelAfter(t, term.output(), 0)
	code := codeIn(t, hooks["slack"].waitFor(t, label).Body, label)
	term.expect(off, ": ")
	term.send(wrongCode(code) + "\n")
	exit, res := term.wait()
	if exit != 255 || !strings.Contains(res.Stdout, "was refused (wrong code)") || strings.Contains(res.Stdout, "JSON_OUTPUT") {
		t.Fatalf("wrong code: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "mfa.fail", `"account":"`+account+`"`, `"factor":"webhook"`, `"reason":"wrong code"`, label)

	// The right code typed after the 5 s lifetime: refused as expired.
	term = startKbd(t, b, kbdOpts{key: keyFile}, account, "--json-greppable", "--osh", "info")
	off = term.expect(0, "Code for session ")
	label = labelAfter(t, term.output(), 0)
	code = codeIn(t, hooks["slack"].waitFor(t, label).Body, label)
	term.expect(off, ": ")
	time.Sleep(5500 * time.Millisecond)
	term.send(code + "\n")
	exit, res = term.wait()
	if exit != 255 || !strings.Contains(res.Stdout, "was refused (code expired)") || strings.Contains(res.Stdout, "JSON_OUTPUT") {
		t.Fatalf("expired code: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "mfa.fail", `"factor":"webhook"`, `"reason":"code expired"`, label)
	// No audit entry ever holds a code.
	for _, typ := range []string{"mfa.prompt", "mfa.pass", "mfa.fail"} {
		for _, l := range auditLines(t, b, typ) {
			if strings.Contains(l, code) {
				t.Fatalf("a code is in the audit log: %s", l)
			}
		}
	}
}

// JIT webhook code for a group's server (a real sshd behind the bastion) and for a command
// ([plugin.groupList] mfa_required = "webhook"): the code goes to the group's own channel, is
// typed on the terminal inside the session, and the session goes on; a wrong code ends the
// command with KO_MFA_FAILED and nothing runs.
func TestNotifyWebhookJITGroupServerAndCommand(t *testing.T) {
	ops, dba := newHook(t, "slack"), newHook(t, "discord")
	cfg := "[plugin.groupList]\nmfa_required = \"webhook\"\n[notify]\ncodes = [\"ops\"]\n" +
		channelTOML("ops", ops, "") + channelTOML("dba", dba, "") + "[notify.groups.dbas]\nchannels = [\"dba\"]\n"
	b := testenv.Start(t, testenv.Options{Config: cfg})
	ctx := context.Background()
	sshd := sshtest.StartSSHD(t)
	key := b.CreateAccount("alice")
	group(t, b, "dbas", "", "alice")
	if _, err := b.App.Store.SetRole(ctx, "dbas", store.RoleOwner, "admin", true); err != nil {
		t.Fatal(err)
	}
	ek, err := common.StoreNewEgressKey(ctx, b.App.Store, b.App.Env.Sealer, "group", "dbas", "ed25519", 256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sshd.Authorize(t, ek.Public)
	if _, err := b.App.Store.AddACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "dbas", Host: "127.0.0.1", Port: sshd.Port,
		AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// groupModify accepts the chat factors.
	r := b.MustOK("--osh", "groupModify", "--group", "dbas", "--mfa-required", "webhook")
	if g, _ := b.App.Store.GetGroup(ctx, "dbas"); g.MFARequired != "webhook" {
		t.Fatalf("groupModify --mfa-required webhook: stored %q\n%s", g.MFARequired, r.Stdout)
	}

	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", sshd.User+"@127.0.0.1", "-p", fmt.Sprint(sshd.Port), "echo", "hello-from-target")
	off := term.expect(0, "(MFA REQUIRED: WEBHOOK)")
	off = term.expect(off, "As this is required for this host, entering MFA phase for alice.")
	off = term.expect(off, "Code for session ")
	label := labelAfter(t, term.output(), off-len("Code for session "))
	req := dba.waitFor(t, label)
	if !strings.Contains(string(req.Body), fmt.Sprintf("127.0.0.1:%d", sshd.Port)) {
		t.Fatalf("the message does not name the target:\n%s", req.Body)
	}
	term.send(codeIn(t, req.Body, label) + "\r")
	off = term.expect(off, "pamtester: successfully authenticated")
	term.expect(off, "hello-from-target")
	if exit, res := term.wait(); exit != 0 {
		t.Fatalf("JIT code for the group's server: exit %d\n%s", exit, res.Stdout)
	}
	if len(ops.requests()) != 0 {
		t.Fatalf("the default channel got the group's code: %d messages", len(ops.requests()))
	}

	// A command whose operator config requires the webhook factor: asked in the session.
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--osh", "groupList")
	off = term.expect(0, "As this is required to run this plugin, entering MFA phase for alice.")
	off = term.expect(off, "Code for session ")
	label = labelAfter(t, term.output(), off-len("Code for session "))
	term.send(codeIn(t, dba.waitFor(t, label).Body, label) + "\r")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("groupList after the code: exit %d\n%s", exit, res.Stdout)
	}
	// A wrong code: 125, the command does not run.
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--osh", "groupList")
	off = term.expect(0, "Code for session ")
	label = labelAfter(t, term.output(), off-len("Code for session "))
	term.send(wrongCode(codeIn(t, dba.waitFor(t, label).Body, label)) + "\r")
	exit, res := term.wait()
	if exit != 125 || res.Code() != "KO_MFA_FAILED" || !strings.Contains(res.Stdout, "pamtester: Authentication failure") ||
		!strings.Contains(res.Stdout, "(wrong code)") || strings.Contains(res.Stdout, "dbas") {
		t.Fatalf("wrong JIT code: exit %d\n%s", exit, res.Stdout)
	}
	auditHas(t, b, "mfa.phase_refused", `"account":"alice"`, `"command":"groupList"`)
}
