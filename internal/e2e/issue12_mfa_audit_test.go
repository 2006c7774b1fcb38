package e2e

// Issue 12, section 3: MFA on transfers through the transparent ways (immediate MFA at login,
// a chat approval asked on the client's own prompt), and the auditor's question "who copied
// /etc/shadow from db1, when", answered from what the bastion keeps.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// TestIssue12ImmediateMFATransfers: with MFAMode "immediate" (the default) and alice's TOTP
// required, the second factor is asked when the client logs in to the bastion, with no terminal:
// scp through ProxyJump and sftp through the target in the user name each get their code from
// the client's own prompt (SSH_ASKPASS with oathtool), the files arrive intact and the audit
// names them. Without a prompt (BatchMode) or with a wrong code nothing reaches the target.
func TestIssue12ImmediateMFATransfers(t *testing.T) {
	needTool(t, "oathtool", "oathtool")
	k := startKbdJumpMode(t, "immediate")
	port := fmt.Sprint(k.sshd.Port)
	remote := t.TempDir()
	src := filepath.Join(k.dir, "imm.bin")
	data := randomFile(t, src, 120*1024+5)
	sum := fmt.Sprintf("%x", sha256Sum(data))
	count := filepath.Join(k.dir, "askpass.count")
	fresh := func() { // each client run starts with the previous 30 s step's code
		if err := os.WriteFile(count, []byte("0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// No prompt: the login to the bastion fails, nothing is written.
	fresh()
	if _, errs, code := k.runKbd(t, k.secret, "scp", "-F", k.cfg, "-P", port, src, k.target()+":"+remote+"/batch.bin"); code == 0 {
		t.Fatalf("scp without a prompt passed the immediate MFA: %q", errs)
	}
	// A wrong code: refused at login, audited, nothing written.
	fresh()
	if _, errs, code := k.runKbd(t, enrolTOTPSecretOnly(t), "scp", "-F", k.cfgKbd, "-P", port, src, k.target()+":"+remote+"/wrong.bin"); code == 0 {
		t.Fatalf("scp with a wrong code passed: %q", errs)
	}
	waitAudit(t, k.b, "mfa.fail", map[string]any{"account": "alice"})
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("written without the second factor: %v", entries)
	}

	// ProxyJump: scp (SFTP mode) up, the code asked on the client's prompt.
	fresh()
	if out, errs, code := k.runKbd(t, k.secret, "scp", "-F", k.cfgKbd, "-P", port, src, k.target()+":"+remote+"/jump.bin"); code != 0 {
		t.Fatalf("scp through the jump with the code: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "jump.bin"), data)
	waitAudit(t, k.b, "mfa.pass", map[string]any{"account": "alice", "factor": "totp", "stage": "immediate"})
	waitAudit(t, k.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/jump.bin", "sha256_written": sum})

	// The target in the user name: sftp, its commands on stdin, a get (download) this time.
	fresh()
	back := filepath.Join(k.dir, "imm.back")
	if out, errs, code := k.runKbdIn(t, fmt.Sprintf("get %s/jump.bin %s\n", remote, back), k.secret, "sftp", "-F", k.cfgKbd, "-o", "User="+k.userTarget(), "bastion"); code != 0 {
		t.Fatalf("sftp with the target in the user name: exit %d %q %q", code, out, errs)
	}
	sameFile(t, back, data)
	waitAudit(t, k.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/jump.bin", "sha256_read": sum})
	auditNames(t, k.jumpEnv, "subsystem sftp")
}

// approvalJump is a bastion whose group "secure" requires a chat approval (Slack, bob decides)
// for a real sshd target that alice reaches through the group (with its --sftp and --scpup
// grants), and an ssh_config whose clients may answer keyboard-interactive (no BatchMode).
func approvalJump(t *testing.T) (*jumpEnv, *hook, string) {
	t.Helper()
	return chatJump(t, "approval")
}

// chatJump is approvalJump with the group's requirement req ("approval", or "webhook": a code
// posted to Slack that alice types).
func chatJump(t *testing.T, req string) (*jumpEnv, *hook, string) {
	t.Helper()
	slack := newHook(t, "slack")
	b := testenv.Start(t, testenv.Options{Config: "approvalListen = \"127.0.0.1:0\"\nperSourcePenalties = false\n[notify]\napprovals = [\"slack\"]\ncodes = [\"slack\"]\n" +
		channelTOML("slack", slack, "") +
		"[notify.approval]\nttl = \"20s\"\nslack_signing_secret = \"" + slackSecret + "\"\nslack_team_id = \"T0TEAM\"\nslack_app_id = \"A0APP\"\n"})
	aliceKey := b.CreateAccount("alice")
	b.CreateAccount("bob")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--slack-user-id", "T0TEAM/U0BOB")
	r := b.MustOK("--json-greppable", "--osh", "groupCreate", "--group", "secure", "--owner", "admin")
	pub, _ := r.JSON()["value"].(map[string]any)["public_key"].(map[string]any)["line"].(string)
	if pub == "" {
		t.Fatalf("no group key: %s", r.Stdout)
	}
	sshd := sshtest.StartSSHD(t)
	sshd.Authorize(t, pub)
	port := fmt.Sprint(sshd.Port)
	b.MustOK("--osh", "groupModify", "--group", "secure", "--mfa-required", req)
	b.MustOK("--osh", "groupAddMember", "--group", "secure", "--account", "alice")
	b.MustOK("--osh", "groupAddServer", "--group", "secure", "--host", "127.0.0.1", "--port", port, "--user-any")
	for _, proto := range []string{"--sftp", "--scpup"} {
		b.MustOK("--osh", "groupAddServer", "--group", "secure", "--host", "127.0.0.1", "--port", port, proto)
	}
	j := &jumpEnv{b: b, sshd: sshd, aliceKey: aliceKey, dir: t.TempDir()}
	body, err := os.ReadFile(writeJumpConfig(t, b, aliceKey, j.dir))
	if err != nil {
		t.Fatal(err)
	}
	j.cfg = filepath.Join(j.dir, "ssh_config_kbd")
	if err := os.WriteFile(j.cfg, []byte(strings.Replace(string(body), "  BatchMode yes\n", "  BatchMode no\n  KbdInteractiveAuthentication yes\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return j, slack, port
}

// TestIssue12JITApprovalTransfers: a transfer to a server whose group requires a chat approval,
// through ProxyJump and through the target in the user name, with no terminal: the request
// shows on the client's own stderr, bob approves in Slack, and the file arrives intact and
// audited; when bob denies, the client fails and nothing is written on the target.
func TestIssue12JITApprovalTransfers(t *testing.T) {
	j, slack, port := approvalJump(t)
	remote := t.TempDir()
	src := filepath.Join(j.dir, "approved.bin")
	data := randomFile(t, src, 90*1024+1)
	sum := fmt.Sprintf("%x", sha256Sum(data))
	// The stanza's bastion host logs at ERROR; OpenSSH shows keyboard-interactive's text at INFO.
	user := "User=alice:" + j.sshd.User + "@127.0.0.1:" + port
	for _, c := range []struct {
		name, action string
		args         []string
		dst          string
	}{
		{"scp jump approved", "gatehouse_approve", []string{"scp", "-F", j.cfg, "-P", port, src, j.target() + ":" + remote + "/jump.bin"}, "jump.bin"},
		{"scp -O user name approved", "gatehouse_approve", []string{"scp", "-F", j.cfg, "-O", "-o", user, "-o", "LogLevel=INFO", src, "bastion:" + remote + "/user.bin"}, "user.bin"},
		{"scp jump denied", "gatehouse_deny", []string{"scp", "-F", j.cfg, "-P", port, src, j.target() + ":" + remote + "/denied.bin"}, "denied.bin"},
	} {
		cmd, errb, label, cancel := startForApproval(t, j.dir, c.name, c.args...)
		if _, err := os.Stat(filepath.Join(remote, c.dst)); err == nil {
			t.Fatalf("%s: written before the decision", c.name)
		}
		decideApproval(t, j.b, slack, label, c.action)
		decided := time.Now()
		err := cmd.Wait()
		cancel()
		if c.action == "gatehouse_deny" {
			if err == nil {
				t.Fatalf("%s: the client succeeded", c.name)
			}
			// The denial is final: the client's automatic retry of keyboard-interactive gets
			// no second request (that someone else could approve), and the client ends at once.
			if n := strings.Count(errb.String(), "a request for session "); n != 1 || time.Since(decided) > 10*time.Second {
				t.Fatalf("%s: %d approval requests, ended %v after the denial: %q", c.name, n, time.Since(decided), errb.String())
			}
			if _, serr := os.Stat(filepath.Join(remote, c.dst)); serr == nil {
				t.Fatalf("%s: written on the target", c.name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v %q", c.name, err, errb.String())
		}
		sameFile(t, filepath.Join(remote, c.dst), data)
	}
	waitAudit(t, j.b, "mfa.pass", map[string]any{"account": "alice", "factor": "approval", "stage": "jit"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/jump.bin", "sha256_written": sum})
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path2": remote + "/user.bin", "sha256_written": sum})
}

// TestIssue12JITChatCodeTransfer: a transfer to a server whose group requires a code posted to
// the chat (webhook), through ProxyJump with no terminal: the client's own prompt (SSH_ASKPASS)
// asks for the code, alice reads it in Slack and types it; the file arrives intact and audited.
// A wrong code writes nothing.
func TestIssue12JITChatCodeTransfer(t *testing.T) {
	j, slack, port := chatJump(t, "webhook")
	remote := t.TempDir()
	src := filepath.Join(j.dir, "code.bin")
	data := randomFile(t, src, 70*1024+3)
	// The askpass shows the prompt to the test (a file) and answers what the test writes.
	prompt, answer := filepath.Join(j.dir, "prompt"), filepath.Join(j.dir, "answer")
	ask := filepath.Join(j.dir, "askpass")
	script := `#!/bin/sh
printf '%s' "$1" > "$GH_PROMPT.tmp" && mv "$GH_PROMPT.tmp" "$GH_PROMPT"
i=0; while [ ! -s "$GH_ANSWER" ] && [ $i -lt 300 ]; do [ -e "$GH_ANSWER.stop" ] && exit 1; sleep 0.1; i=$((i+1)); done
cat "$GH_ANSWER"; rm -f "$GH_ANSWER"
`
	if err := os.WriteFile(ask, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"SSH_ASKPASS": ask, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0", "GH_PROMPT": prompt, "GH_ANSWER": answer} {
		t.Setenv(k, v)
	}
	for _, c := range []struct {
		dst   string
		wrong bool
	}{{"good.bin", false}, {"wrong.bin", true}} {
		_ = os.Remove(prompt)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, "scp", "-F", j.cfg, "-P", port, src, j.target()+":"+remote+"/"+c.dst)
		var errb syncBuffer
		cmd.Stderr, cmd.Stdin, cmd.Dir = &errb, strings.NewReader(""), j.dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The label is in the prompt or the instruction above it (stderr).
		var label string
		deadline := time.Now().Add(20 * time.Second)
		for label == "" {
			p, _ := os.ReadFile(prompt)
			if m := labelRe.FindStringSubmatch(string(p) + errb.String()); m != nil && len(p) > 0 {
				label = m[1]
				break
			}
			if time.Now().After(deadline) {
				cancel()
				_ = cmd.Wait()
				t.Fatalf("no code asked on the client's prompt: prompt %q, stderr %q", p, errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		code := codeIn(t, slack.waitFor(t, label).Body, label)
		if c.wrong {
			code = fmt.Sprintf("%0*d", len(code), 0)
			if code == codeIn(t, slack.waitFor(t, label).Body, label) {
				code = fmt.Sprintf("%0*d", len(code), 1)
			}
		}
		if err := os.WriteFile(answer, []byte(code+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if c.wrong { // the bastion asks again: the client's prompt then gives up
			if err := os.WriteFile(answer+".stop", nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		err := cmd.Wait()
		cancel()
		if c.wrong {
			if err == nil {
				t.Fatal("scp with a wrong chat code succeeded")
			}
			if _, serr := os.Stat(filepath.Join(remote, c.dst)); serr == nil {
				t.Fatal("written with a wrong chat code")
			}
			continue
		}
		if err != nil {
			t.Fatalf("scp with the chat code: %v %q", err, errb.String())
		}
		sameFile(t, filepath.Join(remote, c.dst), data)
	}
	// One code per connection: the wrong one was not followed by another code in the chat.
	codes := 0
	for _, r := range slack.requests() {
		if strings.Contains(string(r.Body), "Code for session") {
			codes++
		}
	}
	if codes != 2 {
		t.Fatalf("%d codes posted to the chat for 2 connections", codes)
	}
	waitAudit(t, j.b, "mfa.pass", map[string]any{"account": "alice", "factor": "webhook", "stage": "jit"})
	waitAudit(t, j.b, "mfa.fail", map[string]any{"account": "alice", "factor": "webhook"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/good.bin", "sha256_written": fmt.Sprintf("%x", sha256Sum(data))})
}

// TestIssue12AuditorFindsWhoCopiedShadow: alice copies /etc/shadow from the target (scp in SFTP
// mode, then scp -O), while she and bob copy other files. An auditor (the auditor role, not an
// admin) answers "who copied /etc/shadow from this host, when": the audit log's sftp.close and
// scp.file events with that path, that host and bytes read name alice, the time and the
// session; accountListSessions shows those sessions as alice's transfers at that time, and alice
// sees them in selfListSessions. bob's copy of another file is not in the answer.
func TestIssue12AuditorFindsWhoCopiedShadow(t *testing.T) {
	const shadow = "/etc/shadow"
	if _, err := os.ReadFile(shadow); err != nil {
		testenv.Need(t, "the target's user cannot read %s (CI runs as root): %v", shadow, err)
	}
	j := startJump(t)
	port := fmt.Sprint(j.sshd.Port)
	bobKey := j.b.CreateAccount("bob")
	r := j.b.SSH(bobKey, "bob", "--json-greppable", "--osh", "selfListEgressKeys")
	j.sshd.Authorize(t, egressKeyList(t, r.JSON()["value"])[0]["line"].(string))
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "bob", "--host", "127.0.0.1", "--port", port, "--user", j.sshd.User)
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "bob", "--host", "127.0.0.1", "--port", port, "--sftp")
	carolKey := j.b.CreateAccount("carol")
	j.b.MustOK("--osh", "accountGrantCommand", "--account", "carol", "--command", "auditor")

	before := time.Now().Add(-time.Second)
	for _, flag := range []string{"-s", "-O"} {
		if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, flag, "-P", port, j.target()+":"+shadow, filepath.Join(j.dir, "shadow"+flag)); code != 0 {
			t.Fatalf("scp %s %s: %d %q %q", flag, shadow, code, out, errs)
		}
		sameFile(t, filepath.Join(j.dir, "shadow"+flag), mustRead(t, shadow))
	}
	if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-P", port, j.target()+":/etc/hostname", filepath.Join(j.dir, "hostname")); code != 0 {
		t.Fatalf("scp /etc/hostname: %d %q %q", code, out, errs)
	}
	bobDir := t.TempDir()
	bobCfg := writeJumpConfig(t, j.b, bobKey, bobDir)
	bobCfgBody, _ := os.ReadFile(bobCfg)
	if err := os.WriteFile(bobCfg, []byte(strings.Replace(string(bobCfgBody), "User alice", "User bob", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("scp", "-F", bobCfg, "-P", port, j.target()+":/etc/hostname", filepath.Join(bobDir, "h")).CombinedOutput(); err != nil {
		t.Fatalf("bob's scp: %v %s", err, out)
	}
	closedSession(t, j.b, "bob", "subsystem sftp")
	after := time.Now().Add(time.Second)

	// The answer from the audit log: every read of /etc/shadow on this host.
	type copyOf struct{ account, uniqid, event string }
	var answer []copyOf
	deadline := time.Now().Add(10 * time.Second)
	for len(answer) < 2 {
		answer = nil
		for _, typ := range []string{"sftp.close", "scp.file"} {
			for _, e := range auditEntries(t, j.b, typ) {
				f := flatFields(e)
				path := fmt.Sprint(f["path"])
				if typ == "scp.file" {
					path = fmt.Sprint(f["path2"])
				}
				if path != shadow || f["host_to"] != "127.0.0.1" || f["bytes_read"] == nil || fmt.Sprint(f["bytes_read"]) == "0" {
					continue
				}
				when, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"]))
				if err != nil || when.Before(before) || when.After(after) {
					t.Fatalf("%s at %q, outside the copies' time (%v)", typ, e["time"], err)
				}
				answer = append(answer, copyOf{fmt.Sprint(f["account"]), fmt.Sprint(f["uniqid"]), typ})
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log does not answer who copied %s: %v", shadow, answer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(answer) != 2 || answer[0].account != "alice" || answer[1].account != "alice" || answer[0].uniqid == "" || answer[1].uniqid == "" {
		t.Fatalf("who copied %s: %+v, want alice twice (sftp.close and scp.file) with their sessions", shadow, answer)
	}
	// The auditor's listing shows each of these sessions: alice's, to this host, at that time,
	// a transfer; the legacy scp's line names the file itself.
	for _, a := range answer {
		lr := j.b.SSH(carolKey, "carol", "--json-greppable", "--osh", "accountListSessions", "--host", "127.0.0.1", "--id", a.uniqid)
		rows, _ := lr.JSON()["value"].([]any)
		if lr.Exit != 0 || len(rows) != 1 {
			t.Fatalf("the auditor's accountListSessions --id %s: exit %d %s", a.uniqid, lr.Exit, lr.Stdout)
		}
		row := rows[0].(map[string]any)
		when := time.Unix(int64(row["timestamp"].(float64)), 0)
		params := fmt.Sprint(row["params"])
		if row["account"] != "alice" || when.Before(before.Truncate(time.Second)) || when.After(after) ||
			(a.event == "sftp.close" && !strings.HasSuffix(params, "subsystem sftp")) || (a.event == "scp.file" && !strings.HasSuffix(params, "scp -f "+shadow)) {
			t.Fatalf("the session of %s: %v", a.event, row)
		}
	}
	// alice sees her transfers in selfListSessions.
	mine := j.b.SSH(j.aliceKey, "alice", "--json-greppable", "--osh", "selfListSessions", "--type", "ssh", "--host", "127.0.0.1")
	if mine.Exit != 0 || !strings.Contains(mine.Stdout, "scp -f "+shadow) || !strings.Contains(mine.Stdout, "subsystem sftp") {
		t.Fatalf("selfListSessions does not show alice's transfers: %s", mine.Stdout)
	}
	// bob copied another file: his session is listed, but never in the answer.
	bobs := j.b.SSH(carolKey, "carol", "--json-greppable", "--osh", "accountListSessions", "--account", "bob", "--type", "ssh")
	if bobs.Exit != 0 || !strings.Contains(bobs.Stdout, "subsystem sftp") {
		t.Fatalf("bob's transfer is not listed for the auditor: %s", bobs.Stdout)
	}
}

// flatFields is an audit entry's fields with its extra fields beside them (waitAudit's view).
func flatFields(e map[string]any) map[string]any {
	flat := map[string]any{}
	f, _ := e["fields"].(map[string]any)
	x, _ := f["extra"].(map[string]any)
	for _, m := range []map[string]any{f, x} {
		for k, v := range m {
			flat[k] = v
		}
	}
	return flat
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIssue12ImmediateApprovalTransfers: with MFAMode "immediate" (the default) and alice's
// own approval required at login (--mfa-approval-required), a transfer through the stanza asks
// it on the client's own prompt when the connection to the bastion logs in: approved, the file
// arrives intact and audited; denied, nothing is written, and the client's automatic retries
// post no second request.
func TestIssue12ImmediateApprovalTransfers(t *testing.T) {
	j, slack, port := chatJump(t, "none")
	j.b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-approval-required", "yes")
	// The jump hop (to the bastion) logs at INFO here: OpenSSH shows keyboard-interactive's text
	// at INFO, and ssh passes -F, not -o, to the ProxyJump hop.
	body, err := os.ReadFile(j.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j.cfg, []byte(strings.Replace(string(body), "  LogLevel ERROR\n", "  LogLevel INFO\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	remote := t.TempDir()
	src := filepath.Join(j.dir, "imm-approved.bin")
	data := randomFile(t, src, 40*1024+7)
	for _, c := range []struct{ dst, action string }{{"ok.bin", "gatehouse_approve"}, {"no.bin", "gatehouse_deny"}} {
		cmd, errb, label, cancel := startForApproval(t, j.dir, c.action, "scp", "-F", j.cfg, "-P", port, src, j.target()+":"+remote+"/"+c.dst)
		decideApproval(t, j.b, slack, label, c.action)
		decided := time.Now()
		err := cmd.Wait()
		cancel()
		if c.action == "gatehouse_deny" {
			if err == nil {
				t.Fatal("scp succeeded after a denied approval")
			}
			if _, serr := os.Stat(filepath.Join(remote, c.dst)); serr == nil {
				t.Fatal("written after a denied approval")
			}
			if n := strings.Count(errb.String(), "a request for session "); n != 1 || time.Since(decided) > 10*time.Second {
				t.Fatalf("denied at login: %d approval requests, ended %v after the denial: %q", n, time.Since(decided), errb.String())
			}
			continue
		}
		if err != nil {
			t.Fatalf("scp after the approval: %v %q", err, errb.String())
		}
		sameFile(t, filepath.Join(remote, c.dst), data)
	}
	waitAudit(t, j.b, "mfa.pass", map[string]any{"account": "alice", "factor": "approval", "stage": "immediate"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/ok.bin", "sha256_written": fmt.Sprintf("%x", sha256Sum(data))})
}

// startForApproval starts a client whose login waits on a chat approval and returns once its
// prompt shows the request: the command, its stderr, the request's label and its context's
// cancel. A client that never shows the request fails t.
func startForApproval(t *testing.T, dir, name string, args ...string) (*exec.Cmd, *syncBuffer, string, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	errb := &syncBuffer{}
	cmd.Stderr, cmd.Stdin, cmd.Dir = errb, strings.NewReader(""), dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	const shown = "a request for session "
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(errb.String(), shown) {
		if time.Now().After(deadline) {
			cancel()
			werr := cmd.Wait()
			t.Fatalf("%s: no approval request on the client's prompt: %q (%v)", name, errb.String(), werr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cmd, errb, labelAfter(t, errb.String, strings.Index(errb.String(), shown)), cancel
}
