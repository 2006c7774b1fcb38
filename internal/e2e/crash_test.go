package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// TestInteractiveSSHAlone: typing `ssh` alone at the interactive prompt used to panic (index out
// of range) and stop the whole server. Now it prints the usage, the same session goes on, and
// another session is untouched.
func TestInteractiveSSHAlone(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	other := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	ooff := other.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)

	term := b.SSHTerminal(bobKey, "bob", 100, 30, "-i")
	off := term.Expect(0, "bob@gatehouse(master)> ", 10*time.Second)
	for _, line := range []string{"ssh", "ssh   ", "ssh -p 22"} {
		term.Send(line + "\r")
		off = term.Expect(off, "bob@gatehouse(master)> ", 5*time.Second)
	}
	if !strings.Contains(term.Output(), "Usage: ssh [user@]host") {
		t.Fatalf("no usage line after `ssh` alone:\n%s", term.Output())
	}
	term.Send("info\r")
	term.Expect(off, "You are bob on gatehouse", 5*time.Second)

	other.Send("info\r")
	other.Expect(ooff, "You are admin on gatehouse", 5*time.Second)
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("a new connection after the line: exit %d: %s", r.Exit, r.Stderr)
	}
}

// TestSessionPanicEndsOneConnection: a panic anywhere in one connection's handling (a command, a
// role hook at session start) ends that connection only, with an audit event naming the account,
// and the counter gatehouse_session_panics_total. Another session keeps running and the server
// keeps accepting.
func TestSessionPanicEndsOneConnection(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	malKey := b.CreateAccount("mallory")
	// Test-only faults, installed before any connection reads them.
	b.App.Env.Registry.Add(&osh.Command{Name: "testPanic", Category: osh.Open, Summary: "panics (test only)",
		Run: func(context.Context, *osh.Call) osh.Result {
			var m map[string]int
			m["x"]++ //lint:ignore SA5000 the panic is the fault under test
			return osh.Result{}
		}})
	roles := b.App.Server.RoleHook
	b.App.Server.RoleHook = func(ctx context.Context, a store.Account, r *osh.Roles) {
		if a.Name == "mallory" {
			panic("role hook fault for mallory")
		}
		roles(ctx, a, r)
	}

	other := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	ooff := other.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)

	r := b.SSH(bobKey, "bob", "--osh", "testPanic")
	if r.Exit == 0 || !strings.Contains(r.Stderr+r.Stdout, "An internal error ended this session") {
		t.Fatalf("panicking command: exit %d\nstdout %s\nstderr %s", r.Exit, r.Stdout, r.Stderr)
	}
	auditHas(t, b, "session.panic", `"account":"bob"`, "assignment to entry in nil map")

	r = b.SSH(malKey, "mallory", "--osh", "info")
	if r.Exit != 255 {
		t.Fatalf("panicking role hook: exit %d, want 255 (connection closed)\n%s", r.Exit, r.Stderr)
	}
	auditHas(t, b, "session.panic", `"account":"mallory"`, "role hook fault")

	// The other session goes on, the server accepts, bob can still log in.
	other.Send("info\r")
	other.Expect(ooff, "You are admin on gatehouse", 5*time.Second)
	if r := b.SSH(bobKey, "bob", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("bob after the panic: exit %d: %s", r.Exit, r.Stderr)
	}
	if n := b.App.Server.Stats().Panics.Load(); n != 2 {
		t.Fatalf("panics counted: %d, want 2", n)
	}
	if v := metricValue(t, b, "gatehouse_session_panics_total"); v != 2 {
		t.Fatalf("gatehouse_session_panics_total = %v, want 2", v)
	}
}

// metricValue reads one unlabelled counter or gauge from the bastion's registry.
func metricValue(t testing.TB, b *testenv.Bastion, name string) float64 {
	t.Helper()
	mfs, err := b.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
