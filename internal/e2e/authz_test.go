package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// pipedSSH is the real ssh client with a standard input the test writes line by line, and its
// output (stdout and stderr together) read as it comes.
type pipedSSH struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	exit int
}

func (p *pipedSSH) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func startPiped(t *testing.T, b *testenv.Bastion, key, account string, words ...string) *pipedSSH {
	t.Helper()
	args := append(b.SSHArgs(key, account), "--")
	p := &pipedSSH{t: t, cmd: exec.Command("ssh", append(args, words...)...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	in, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.in = in
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			p.exit = ee.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.in.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *pipedSSH) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// line sends one line of input.
func (p *pipedSSH) line(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, s+"\n"); err != nil {
		p.t.Fatalf("write %q: %v", s, err)
	}
}

// expect waits until the output after offset from holds s, and returns the offset after it.
func (p *pipedSSH) expect(from int, s string, timeout time.Duration) int {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.output()
		if i := strings.Index(out[min(from, len(out)):], s); i >= 0 {
			return min(from, len(out)) + i + len(s)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the output never showed %q; it showed:\n%s", s, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ended waits for ssh to exit and returns its exit status.
func (p *pipedSSH) ended(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.exit
	case <-time.After(timeout):
		p.t.Fatalf("ssh did not end within %v; output:\n%s", timeout, p.output())
	}
	return -1
}

// alwaysActive reads bob's always_active flag as the admin sees it.
func alwaysActive(t *testing.T, b *testenv.Bastion, name string) float64 {
	t.Helper()
	r := b.MustOK("--osh", "accountInfo", "--account", name)
	v, _ := r.JSON()["value"].(map[string]any)["always_active"].(float64)
	return v
}

// TestBatchLineSeesRevokedGrant: each line of a batch is authorized against the account as the
// store holds it when the line runs. Line 1 runs with the grant; the admin revokes it; line 2 is
// refused and changes nothing.
func TestBatchLineSeesRevokedGrant(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	eveKey := b.CreateAccount("eve")
	b.CreateAccount("bob")
	b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", "accountModify")
	p := startPiped(t, b, eveKey, "eve", "--osh", "batch")
	p.line("accountModify --account bob --osh-only yes")
	off := p.expect(0, "Setting osh-only to yes... done.", 10*time.Second)
	off = p.expect(off, "</accountModify>", 5*time.Second)
	b.MustOK("--osh", "accountRevokeCommand", "--account", "eve", "--command", "accountModify")
	p.line("accountModify --account bob --always-active yes")
	p.expect(off, "requires you to be specifically granted", 10*time.Second)
	p.line("quit")
	p.ended(10 * time.Second)
	if alwaysActive(t, b, "bob") != 0 {
		t.Fatalf("the line after the revocation changed bob:\n%s", p.output())
	}
}

// TestBatchEndsWhenAccountDeletedAndRecreated: a batch whose account is deleted (and a new
// account made under the same name, with the same grant) ends; no later line runs, neither as
// the deleted account nor as its namesake.
func TestBatchEndsWhenAccountDeletedAndRecreated(t *testing.T) {
	for _, how := range []string{"freeze", "delete"} {
		t.Run(how, func(t *testing.T) {
			b := testenv.Start(t, testenv.Options{})
			eveKey := b.CreateAccount("eve")
			b.CreateAccount("bob")
			b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", "accountModify")
			p := startPiped(t, b, eveKey, "eve", "--osh", "batch")
			p.line("accountModify --account bob --osh-only yes")
			off := p.expect(0, "</accountModify>", 10*time.Second)
			b.MustOK("--osh", "accountRevokeCommand", "--account", "eve", "--command", "accountModify")
			want := 131
			if how == "freeze" {
				b.MustOK("--osh", "accountFreeze", "--account", "eve")
			} else {
				b.MustOK("--osh", "accountDelete", "--account", "eve", "--no-confirm")
				b.CreateAccount("eve")
				b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", "accountModify")
				want = 101
			}
			// The line may find the session already closed: both are fine, running it is not.
			_, _ = io.WriteString(p.in, "accountModify --account bob --always-active yes\n")
			_ = p.in.Close()
			if code := p.ended(10 * time.Second); code != want {
				t.Errorf("exit status %d, want %d; output:\n%s", code, want, p.output()[off:])
			}
			if alwaysActive(t, b, "bob") != 0 {
				t.Fatalf("a line ran after the %s:\n%s", how, p.output())
			}
		})
	}
}

// TestGuardNonAdminOnAdmin: an account granted accountUnfreeze (or unlock, personal access,
// modify …) but not admin changes no admin, through the real ssh client.
func TestGuardNonAdminOnAdmin(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	eveKey := b.CreateAccount("eve")
	b.CreateAccount("boss")
	b.MustOK("--osh", "accountGrantCommand", "--account", "boss", "--command", "admin")
	b.MustOK("--osh", "accountFreeze", "--account", "boss", "--reason", "holiday")
	lines := [][]string{
		{"accountUnfreeze", "--account", "boss"},
		{"accountUnlock", "--account", "boss"},
		{"accountAddPersonalAccess", "--account", "boss", "--host", "10.0.0.9", "--user", "root", "--port", "22"},
		{"accountModify", "--account", "boss", "--always-active", "yes"},
		{"accountMFAResetPassword", "--account", "boss"},
	}
	for _, l := range lines {
		b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", l[0])
		r := b.SSH(eveKey, "eve", append([]string{"--json-greppable", "--osh"}, l...)...)
		if r.Code() != "ERR_SECURITY_VIOLATION" {
			t.Errorf("%v by a non-admin on an admin: %s (exit %d)\n%s", l, r.Code(), r.Exit, r.Stdout)
		}
	}
	info := b.MustOK("--osh", "accountInfo", "--account", "boss").JSON()["value"].(map[string]any)
	if info["is_frozen"] != float64(1) || info["always_active"] != float64(0) {
		t.Fatalf("the admin was changed: %v", info)
	}
	r := b.MustOK("--osh", "accountListAccesses", "--account", "boss")
	if strings.Contains(r.Stdout, "10.0.0.9") {
		t.Fatalf("a personal access was added to the admin:\n%s", r.Stdout)
	}
	// A non-admin does not lift its own factors either.
	b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", "accountModify")
	r = b.SSH(eveKey, "eve", "--json-greppable", "--osh", "accountModify", "--account", "eve", "--pam-auth-bypass", "yes")
	if r.Code() != "ERR_SECURITY_VIOLATION" {
		t.Fatalf("self pam-auth-bypass: %s\n%s", r.Code(), r.Stdout)
	}
}

// sessionIDs lists the ids a session listing returned.
func sessionIDs(r testenv.Result) map[string]bool {
	ids := map[string]bool{}
	if v, ok := r.JSON()["value"].([]any); ok {
		for _, s := range v {
			ids[s.(map[string]any)["id"].(string)] = true
		}
	}
	return ids
}

// TestRecreatedAccountDoesNotInheritSessions: sessions belong to the account's identity. A new
// account made under a deleted account's name neither lists nor plays the old sessions; the
// auditors still reach them by the old identity.
func TestRecreatedAccountDoesNotInheritSessions(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	oldKey := b.CreateAccount("bob")
	b.SSH(oldKey, "bob", "--osh", "info")
	old := b.SSH(oldKey, "bob", "--json-greppable", "--osh", "selfListSessions")
	oldIDs := sessionIDs(old)
	if len(oldIDs) == 0 {
		t.Fatalf("the old bob has no session:\n%s", old.Stdout)
	}
	var oldID, oldAccountID string
	for id := range oldIDs {
		oldID = id
	}
	for _, s := range old.JSON()["value"].([]any) {
		oldAccountID, _ = s.(map[string]any)["account_id"].(string)
	}
	b.MustOK("--osh", "accountDelete", "--account", "bob", "--no-confirm")
	newKey := b.CreateAccount("bob")
	mine := sessionIDs(b.SSH(newKey, "bob", "--json-greppable", "--osh", "selfListSessions"))
	for id := range oldIDs {
		if mine[id] {
			t.Fatalf("the new bob lists the old bob's session %s", id)
		}
	}
	r := b.SSH(newKey, "bob", "--json-greppable", "--osh", "selfPlaySession", "--id", oldID)
	if r.Code() != "ERR_NOT_FOUND" || strings.Contains(r.Stdout, "You are bob") {
		t.Fatalf("the new bob plays the old bob's session: %s\n%s", r.Code(), r.Stdout)
	}
	// accountListSessions --account bob means the bob that exists now.
	listed := sessionIDs(b.MustOK("--osh", "accountListSessions", "--account", "bob"))
	if listed[oldID] {
		t.Fatal("accountListSessions --account bob shows the deleted bob's session as the new bob's")
	}
	// The evidence stays: by the old identity, and for accountPlaySession.
	if !sessionIDs(b.MustOK("--osh", "accountListSessions", "--account-id", oldAccountID))[oldID] {
		t.Fatal("the deleted bob's sessions are no longer reachable by its identity")
	}
	if r := b.Admin("--json-greppable", "--osh", "accountPlaySession", "--id", oldID); r.Code() != "OK" {
		t.Fatalf("accountPlaySession of the deleted bob's session: %s\n%s", r.Code(), r.Stdout)
	}
}

// TestFreezeEndsRelayedSession: a relayed `sleep 60` on a real sshd ends within seconds when an
// admin freezes the account, with a message to the user; the same for a deletion, and for an
// interactive shell on a pty.
func TestFreezeEndsRelayedSession(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest, port := fmt.Sprintf("%s@127.0.0.1", sshd.User), fmt.Sprint(sshd.Port)

	p := startPiped(t, b, aliceKey, "alice", dest, "-p", port, "echo started; sleep 60")
	p.expect(0, "started", 15*time.Second)
	start := time.Now()
	b.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "incident 42")
	code := p.ended(10 * time.Second)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the relay ended %v after the freeze", took)
	}
	if code != 131 || !strings.Contains(p.output(), "Your account has been frozen (incident 42) by admin: this session is closed.") {
		t.Fatalf("exit %d, output:\n%s", code, p.output())
	}
	// The audit log says who ended which sessions, and the session's own row says why.
	auditHas(t, b, "account.sessions_ended", `"account":"alice"`, `"by":"admin"`, "incident 42")
	auditHas(t, b, "session.close", `"account":"alice"`, `"comment":"Your account has been frozen (incident 42) by admin"`)
	b.MustOK("--osh", "accountUnfreeze", "--account", "alice")

	// A pty shell, ended by a deletion.
	term := b.SSHTerminal(aliceKey, "alice", 80, 24, dest, "-p", port)
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo READY-$((6*7))\r")
	term.Expect(off, "READY-42", 10*time.Second)
	start = time.Now()
	b.MustOK("--osh", "accountDelete", "--account", "alice", "--no-confirm")
	if code := term.Wait(10 * time.Second); code != 101 || time.Since(start) > 3*time.Second {
		t.Fatalf("pty shell after the deletion: exit %d after %v\n%s", code, time.Since(start), term.Output())
	}
	// The terminal's reader may still be draining the pty once ssh exited.
	term.Expect(off, "Your account has been deleted by admin: this session is closed.", 5*time.Second)
}

// TestMultiplexedConnectionOfDeletedAccount: an SSH connection is bound to the identity of the
// account it authenticated. A ControlMaster connection of a deleted account opens no session as
// the account created since under the same name.
func TestMultiplexedConnectionOfDeletedAccount(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	oldKey := b.CreateAccount("bob")
	sock := filepath.Join(t.TempDir(), "mux")
	master := exec.Command("ssh", append([]string{"-N", "-o", "ControlMaster=yes", "-o", "ControlPath=" + sock}, b.SSHArgs(oldKey, "bob")...)...)
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Process.Kill(); _ = master.Wait() })
	viaMux := func(words ...string) testenv.Result {
		args := append([]string{"-o", "ControlMaster=no", "-o", "ControlPath=" + sock}, b.SSHArgs("", "bob")...)
		cmd := exec.Command("ssh", append(append(args, "--"), words...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return testenv.Result{Stdout: out.String(), Stderr: errb.String(), Exit: code}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := viaMux("--json-greppable", "--osh", "info"); r.Code() == "OK" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ControlMaster connection never came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.MustOK("--osh", "accountDelete", "--account", "bob", "--no-confirm")
	b.CreateAccount("bob")
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "accountList")
	r := viaMux("--json-greppable", "--osh", "accountList")
	if r.Exit == 0 || strings.Contains(r.Stdout, "account(s)") {
		t.Fatalf("the deleted bob's connection acts as the new bob: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
}

// TestTTLEndsRelayedSession: an account's TTL passing ends its relayed session, as a freeze does.
// The TTL is an hour of the bastion's clock, which the test moves.
func TestTTLEndsRelayedSession(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, _ := targetSetup(t, b)
	key := b.CreateAccount("tina", "--ttl", "3600")
	r := b.SSH(key, "tina", "--json-greppable", "--osh", "selfListEgressKeys")
	sshd.Authorize(t, egressKeyList(t, r.JSON()["value"])[0]["line"].(string))
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "tina", "--host", "127.0.0.1", "--user", sshd.User, "--port", fmt.Sprint(sshd.Port))
	p := startPiped(t, b, key, "tina", fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port), "echo started; sleep 60")
	p.expect(0, "started", 10*time.Second)
	b.Clock.Advance(3601 * time.Second)
	if code := p.ended(5 * time.Second); code != 121 {
		t.Fatalf("exit %d, want 121:\n%s", code, p.output())
	}
	p.expect(0, "Your account TTL has expired", time.Second)
}

// TestGrantRevokedDuringFactorPrompt: a command that asks a factor just in time is authorized
// again once the factor is given: a grant revoked while the prompt waited is obeyed.
func TestGrantRevokedDuringFactorPrompt(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAMode = \"jit\"\n[plugin.accountModify]\nmfa_required = \"password\"\n"})
	const pw = "correct horse 2"
	eveKey := b.CreateAccount("eve")
	b.CreateAccount("bob")
	setPassword(t, b, "eve", pw)
	b.MustOK("--osh", "accountGrantCommand", "--account", "eve", "--command", "accountModify")
	term := startKbd(t, b, kbdOpts{key: eveKey, tty: true}, "eve", "--json-greppable", "--osh", "accountModify", "--account", "bob", "--always-active", "yes")
	off := term.expect(0, "Password: ")
	b.MustOK("--osh", "accountRevokeCommand", "--account", "eve", "--command", "accountModify")
	term.send(pw + "\r")
	term.expect(off, "requires you to be specifically granted")
	if exit, _ := term.wait(); exit != 106 {
		t.Fatalf("exit %d, want 106", exit)
	}
	if alwaysActive(t, b, "bob") != 0 {
		t.Fatal("the command ran with the grant revoked during its prompt")
	}
}
