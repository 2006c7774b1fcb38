package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// targetSetup starts a real sshd, an account "alice" with a personal access to it, and puts
// alice's egress key in the sshd's authorized_keys.
func targetSetup(t *testing.T, b *testenv.Bastion) (*sshtest.SSHD, string) {
	t.Helper()
	sshd := sshtest.StartSSHD(t)
	aliceKey := b.CreateAccount("alice")
	r := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListEgressKeys")
	line := egressKeyList(t, r.JSON()["value"])[0]["line"].(string)
	sshd.Authorize(t, line)
	_, err := b.App.Store.AddACL(context.Background(), store.ACLEntry{Kind: store.ACLPersonal, Owner: "alice",
		Host: "127.0.0.1", User: sshd.User, Port: sshd.Port, AddedBy: "admin", AddedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return sshd, aliceKey
}

func TestConnectExecStdinExitCode(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)
	port := fmt.Sprint(sshd.Port)

	r := b.SSH(aliceKey, "alice", dest, "-p", port, "echo", "hello from the target; exit 42")
	if r.Exit != 42 || strings.TrimSpace(r.Stdout) != "hello from the target" {
		t.Fatalf("exec: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "will try the following accesses you have:") || !strings.Contains(r.Stderr, "personal access with ED25519-256 key") {
		t.Fatalf("accesses not listed before connecting: %q", r.Stderr)
	}
	// stdin is relayed byte for byte (tar c | ssh … tar x works the same way).
	payload := strings.Repeat("0123456789abcdef", 64*1024) // 1 MiB
	r = b.SSHIn(strings.NewReader(payload), aliceKey, "alice", dest, "-p", port, "sha256sum")
	want := fmt.Sprintf("%x", sha256Sum([]byte(payload)))
	if r.Exit != 0 || !strings.HasPrefix(r.Stdout, want) {
		t.Fatalf("stdin relay: exit %d stdout %q want %s", r.Exit, r.Stdout, want)
	}
	// The remote command reaches the target's shell as typed, quoting kept.
	r = b.SSH(aliceKey, "alice", dest, "-p", port, `printf '%s|' "a b" c`)
	if r.Stdout != "a b|c|" {
		t.Fatalf("quoting lost on the way: %q", r.Stdout)
	}
	// stdout stays clean of bastion chatter (it goes to stderr).
	r = b.SSH(aliceKey, "alice", dest, "-p", port, "printf", "x")
	if r.Stdout != "x" {
		t.Fatalf("stdout polluted: %q", r.Stdout)
	}
}

func TestConnectPTYWindowChange(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("stty size; echo TERM=$TERM\r")
	off = term.Expect(off, "30 100", 10*time.Second)
	off = term.Expect(off, "TERM=", 5*time.Second)
	term.Resize(120, 40)
	time.Sleep(300 * time.Millisecond)
	term.Send("stty size\r")
	term.Expect(off, "40 120", 10*time.Second)
	term.Send("exit 7\r")
	if code := term.Wait(10 * time.Second); code != 7 {
		t.Fatalf("exit status %d, want 7", code)
	}
}

func TestConnectRefusals(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	port := fmt.Sprint(sshd.Port)
	// No access to this port: KO_ACCESS_DENIED, exit 107, The Bastion's sentence.
	r := b.SSH(aliceKey, "alice", "--json-greppable", "root@127.0.0.1", "-p", "1")
	if r.Exit != 107 || r.Code() != "KO_ACCESS_DENIED" || !strings.Contains(r.Stdout, "Access denied for alice to root@127.0.0.1:1") {
		t.Fatalf("access denied: exit %d %q", r.Exit, r.Stdout)
	}
	// Bad remote user, bad host.
	if r = b.SSH(aliceKey, "alice", "'ro;ot@127.0.0.1'", "-p", port); r.Exit != 127 {
		t.Fatalf("bad user: exit %d %s", r.Exit, r.Stdout)
	}
	if r = b.SSH(aliceKey, "alice", "root@bad_host!", "-p", port); r.Exit != 128 {
		t.Fatalf("bad host: exit %d %s", r.Exit, r.Stdout)
	}
	// A target that is down: exit 255 and a message naming it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b.App.Store.AddACL(context.Background(), store.ACLEntry{Kind: store.ACLPersonal, Owner: "alice", Host: "127.0.0.1", Port: deadPort, AddedAt: time.Now()})
	r = b.SSH(aliceKey, "alice", fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(deadPort), "true")
	if r.Exit != 255 || !strings.Contains(r.Stderr, fmt.Sprintf("connect to host 127.0.0.1 port %d: Connection refused", deadPort)) {
		t.Fatalf("down target: exit %d %q", r.Exit, r.Stderr)
	}
	// osh-only accounts never connect.
	b.MustOK("--osh", "accountModify", "--account", "alice", "--osh-only", "yes")
	if r = b.SSH(aliceKey, "alice", fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", port, "true"); r.Exit != 107 {
		t.Fatalf("osh-only: exit %d", r.Exit)
	}
}

func TestConnectHostKeyChangeRefused(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)
	port := fmt.Sprint(sshd.Port)
	if r := b.SSH(aliceKey, "alice", dest, "-p", port, "true"); r.Exit != 0 {
		t.Fatalf("first connection: %d %s", r.Exit, r.Stderr)
	}
	// Trust on first use recorded the key; replace it by another one, as if the host changed.
	ctx := context.Background()
	hp := fmt.Sprintf("[127.0.0.1]:%d", sshd.Port)
	keys, _ := b.App.Store.KnownHostKeys(ctx, "alice", hp)
	if len(keys) != 1 {
		t.Fatalf("host key not recorded on first use under %s: %v", hp, keys)
	}
	_, otherPub := testenv.NewKey(t, "ed25519", "otherhost")
	other := parsePub(t, otherPub)
	b.App.Store.ForgetHost(ctx, "alice", hp)
	b.App.Store.AddKnownHost(ctx, store.KnownHost{Account: "alice", HostPort: hp, Key: other.Marshal(), AddedAt: time.Now()})
	r := b.SSH(aliceKey, "alice", dest, "-p", port, "echo", "should not run")
	if r.Exit != 255 || !strings.Contains(r.Stderr, "REMOTE HOST IDENTIFICATION HAS CHANGED") || strings.Contains(r.Stdout, "should not run") {
		t.Fatalf("changed host key: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}
}

// egressKeyList reads the value of selfListEgressKeys / accountListEgressKeys, an object keyed by
// fingerprint as The Bastion's, checking each key sits under its own fingerprint. The keys come back
// sorted by fingerprint.
func egressKeyList(t *testing.T, value any) []map[string]any {
	t.Helper()
	m, ok := value.(map[string]any)
	if !ok {
		t.Fatalf("egress keys value is %T, want an object keyed by fingerprint: %v", value, value)
	}
	fps := make([]string, 0, len(m))
	for fp := range m {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	out := make([]map[string]any, 0, len(m))
	for _, fp := range fps {
		k, ok := m[fp].(map[string]any)
		if !ok || k["fingerprint"] != fp {
			t.Fatalf("egress key under %q: %v", fp, m[fp])
		}
		out = append(out, k)
	}
	return out
}
