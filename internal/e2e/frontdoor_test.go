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
