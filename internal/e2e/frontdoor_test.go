package e2e

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// sshFrom runs the real ssh client bound to a source address (-o BindAddress).
func sshFrom(t *testing.T, b *testenv.Bastion, from, key, account string, words ...string) testenv.Result {
	t.Helper()
	args := append([]string{"-o", "BindAddress=" + from}, b.SSHArgs(key, account)...)
	args = append(append(args, "--"), words...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb strings.Builder
	cmd := exec.CommandContext(ctx, "ssh", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	return testenv.Result{Stdout: out.String(), Stderr: errb.String(), Exit: code}
}

// halfOpen opens n TCP connections from the source address that never speak SSH, and returns
// a function closing them.
func halfOpen(t *testing.T, addr, from string, n int) func() {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	var conns []net.Conn
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("half-open connection %d from %s: %v", i, from, err)
		}
		conns = append(conns, c)
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// TestHalfOpenFloodFromOneSource: 500 connections from 127.0.0.2 that never authenticate used
// to fill maxStartups and lock everyone out. Now one source holds at most perSourceMaxStartups
// of them, and the real ssh client from 127.0.0.1 logs in throughout.
func TestHalfOpenFloodFromOneSource(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "loginGraceTime = 60\n"})
	closeAll := halfOpen(t, b.Addr, "127.0.0.2", 500)
	defer closeAll()
	// Wait until the server has seen the whole flood.
	deadline := time.Now().Add(10 * time.Second)
	for b.App.Server.Stats().Accepted.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := b.App.Server.Stats().PerSourceRefused.Load(); n != 490 {
		t.Fatalf("refused by perSourceMaxStartups: %d, want 490", n)
	}
	for i := 0; i < 5; i++ {
		if r := sshFrom(t, b, "127.0.0.1", b.AdminKey, "admin", "--osh", "info"); r.Exit != 0 {
			t.Fatalf("login %d from 127.0.0.1 during the flood: exit %d: %s", i, r.Exit, r.Stderr)
		}
	}
	if v := metricValue(t, b, "gatehouse_connections_refused_per_source_total"); v != 490 {
		t.Fatalf("gatehouse_connections_refused_per_source_total = %v", v)
	}
}

// TestFailingSourceIsPenalized: a source whose connections keep failing authentication (the
// real ssh client with a key no account has) is refused for a growing time; another address
// still gets in; once the penalty has run out (an injected clock) the source is served again.
func TestFailingSourceIsPenalized(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	var offset atomic.Int64
	b.App.Server.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	strangerKey, _ := testenv.NewKey(t, "ed25519", "stranger")
	refused := 0
	for i := 0; i < 6; i++ {
		r := sshFrom(t, b, "127.0.0.3", strangerKey, "admin", "--osh", "info")
		if r.Exit == 0 {
			t.Fatalf("a stranger's key logged in")
		}
		if !strings.Contains(r.Stderr, "Permission denied") {
			refused++
		}
	}
	// 5 s, then 10 s doubled: 15 s owed after two failures, so at least the later tries are refused.
	if refused < 3 || b.App.Server.Stats().PenaltyRefused.Load() < 3 {
		t.Fatalf("penalty refusals: %d (stats %d)", refused, b.App.Server.Stats().PenaltyRefused.Load())
	}
	if r := sshFrom(t, b, "127.0.0.1", b.AdminKey, "admin", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("login from another address while 127.0.0.3 is penalized: exit %d: %s", r.Exit, r.Stderr)
	}
	offset.Store(int64(601 * time.Second)) // past perSourcePenaltyMax: the penalty has run out
	if r := sshFrom(t, b, "127.0.0.3", b.AdminKey, "admin", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("the source after its penalty: exit %d: %s", r.Exit, r.Stderr)
	}
}

// emfileListener fails Accept with EMFILE while armed, as a process out of descriptors does.
type emfileListener struct {
	net.Listener
	fail atomic.Int64
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsAreNotFatal: "too many open files" on accept used to end `gatehouse serve`
// and cut every session. Now the server backs off, counts it, keeps the running session and
// serves the next connection.
func TestAcceptErrorsAreNotFatal(t *testing.T) {
	var ln *emfileListener
	var once sync.Once
	b := testenv.Start(t, testenv.Options{WrapListener: func(l net.Listener) net.Listener {
		once.Do(func() { ln = &emfileListener{Listener: l} })
		return ln
	}})
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	off := term.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)
	ln.fail.Store(6)
	// An Accept is already waiting: one connection lets it return, then the next six fail.
	c, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("login after accept errors: exit %d: %s", r.Exit, r.Stderr)
	}
	if n := b.App.Server.Stats().AcceptErrors.Load(); n != 6 {
		t.Fatalf("accept errors counted: %d, want 6", n)
	}
	if v := metricValue(t, b, "gatehouse_accept_errors_total"); v != 6 {
		t.Fatalf("gatehouse_accept_errors_total = %v", v)
	}
	term.Send("info\r")
	term.Expect(off, "You are admin on gatehouse", 5*time.Second)
}

// TestStrangerCannotLockPubkeyOptionalAccount: anyone, without a key, used to lock a
// --pubkey-auth-optional account with 10 wrong passwords. Now tries without a key are
// throttled per source (3 per minute), and one source adds at most 3 failures to the account's
// lockout count (10): after twelve wrong guesses from one address, spread over time (an
// injected clock), the person still logs in.
func TestStrangerCannotLockPubkeyOptionalAccount(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("gina")
	b.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	const pw = "gina's own password"
	setPassword(t, b, "gina", pw)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	b.App.MFA.Now, b.App.Server.Now = clock, clock

	stranger := kbdOpts{from: "127.0.0.4"}
	for round := 0; round < 4; round++ {
		term := startKbd(t, b, stranger, "gina", "--osh", "info")
		off := 0
		for range 3 {
			off = term.expect(off, "Password: ")
			term.send("guess-" + time.Now().Format("150405.000000") + "\n")
		}
		if exit, _ := term.wait(); exit != 255 {
			t.Fatalf("round %d: wrong guesses logged in", round)
		}
		if round == 0 {
			// The source has used its tries: the next connection gets no prompt at all.
			term = startKbd(t, b, stranger, "gina", "--osh", "info")
			if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout, "Password: ") {
				t.Fatalf("throttled source was prompted: exit %d\n%s", exit, res.Stdout)
			}
		}
		offset.Add(int64(11 * time.Minute)) // past every window and per-source penalty
	}
	term := startKbd(t, b, kbdOpts{from: "127.0.0.1"}, "gina", "--json-greppable", "--osh", "info")
	term.expect(0, "Password: ")
	term.send(pw + "\n")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "gina" {
		t.Fatalf("gina after a stranger's twelve guesses: exit %d\n%s", exit, res.Stdout)
	}
}

// TestMethodsAndPromptsTellNoAccountApart: the method list and the prompts used to show which
// accounts may log in without a key. Now every name, existing or not, is offered the same
// methods and the same password prompts, and is refused the same way.
func TestMethodsAndPromptsTellNoAccountApart(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("gina")
	b.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	setPassword(t, b, "gina", "gina's own password")
	b.CreateAccount("hugo")
	setPassword(t, b, "hugo", "hugo's own password")
	strangerKey, _ := testenv.NewKey(t, "ed25519", "stranger")

	transcripts := map[string]string{}
	for i, name := range []string{"gina", "hugo", "admin", "nosuchaccount"} {
		// The method list, as a client with a wrong key sees it.
		r := sshFrom(t, b, "127.0.2."+string(rune('1'+i)), strangerKey, name, "--osh", "info")
		if r.Exit != 255 || !strings.Contains(r.Stderr, "Permission denied (publickey,keyboard-interactive).") {
			t.Fatalf("%s: methods: exit %d %q", name, r.Exit, r.Stderr)
		}
		// The prompts, answered wrong three times, from a source of its own.
		term := startKbd(t, b, kbdOpts{from: "127.0.1." + string(rune('1'+i))}, name, "--osh", "info")
		off := 0
		for range 3 {
			off = term.expect(off, "Password: ")
			term.send("wrong\n")
		}
		exit, res := term.wait()
		if exit != 255 {
			t.Fatalf("%s: wrong password: exit %d", name, exit)
		}
		out := res.Stdout[strings.Index(res.Stdout, "\n")+1:] // after the known_hosts warning
		transcripts[name] = strings.ReplaceAll(out, name+"@", "NAME@")
	}
	for name, tr := range transcripts {
		if tr != transcripts["gina"] {
			t.Fatalf("%s's prompts differ from gina's:\n%s\n--- gina:\n%s", name, tr, transcripts["gina"])
		}
	}
}

// TestTTLOverflowRefusedAtCreate: `--ttl 600y` used to give 15 years and `1000y` a negative TTL (an
// account already expired, or an access that never was): both overflowed time.Duration. Now
// anything past 100 years is refused with a clear error, and nothing is created.
func TestTTLOverflowRefusedAtCreate(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	_, pub := testenv.NewKey(t, "ed25519", "ttl")
	for _, ttl := range []string{"600y", "1000y", "99999999999999999999s", "101y"} {
		r := b.Admin("--json-greppable", "--osh", "accountCreate", "--account", "ttl", "--public-key", `"`+pub+`"`, "--ttl", ttl)
		if r.Exit == 0 || !strings.Contains(r.Stdout, "out of range") {
			t.Fatalf("--ttl %s: exit %d\n%s", ttl, r.Exit, r.Stdout)
		}
	}
	if r := b.Admin("--json-greppable", "--osh", "accountInfo", "--account", "ttl"); r.Exit == 0 {
		t.Fatalf("an account was created by a refused --ttl")
	}
	b.MustOK("--osh", "accountCreate", "--account", "ttl", "--public-key", `"`+pub+`"`, "--ttl", "100y")
}
