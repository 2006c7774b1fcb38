package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// Parallel guessing against the faillock: 12 connections with the account's key each answer a
// wrong password at once; no more than deny (6) answers are ever checked, and the account is
// then locked for the right password too.
func TestAttackFaillockParallelGuessing(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "perSourcePenalties = false\nmaxStartups = \"100:30:200\"\nperSourceMaxStartups = 0\n"})
	key := b.CreateAccount("nora")
	const pw = "the right one"
	setPassword(t, b, "nora", pw)
	events := recordAudit(b)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			term := startKbd(t, b, kbdOpts{key: key}, "nora", "--osh", "info")
			answered := 0
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				for n := strings.Count(term.output(), "Password: "); answered < n; answered++ {
					_, _ = term.pty.Write([]byte("wrong\n")) // the connection may be gone: no Fatal from here
				}
				select {
				case <-term.done:
					deadline = time.Time{}
				case <-time.After(20 * time.Millisecond):
				}
			}
			term.wait()
		}()
	}
	wg.Wait()
	fails := 0
	for _, e := range events.all() {
		if strings.HasPrefix(e, "mfa.fail ") {
			fails++
		}
	}
	t.Logf("12 parallel connections: %d wrong answers checked", fails)
	if fails > 6 || fails == 0 {
		t.Fatalf("%d wrong answers were checked, at most 6 may be", fails)
	}
	term := startKbd(t, b, kbdOpts{key: key}, "nora", "--osh", "info")
	if exit, res := term.wait(); exit != 255 || !strings.Contains(res.Stdout, "locked after") {
		t.Fatalf("after the parallel guesses: exit %d\n%s", exit, res.Stdout)
	}
}

// Forms that try to slip a wide prefix past widest_v4_prefix, or a bad address past the checks.
func TestAttackPrefixForms(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "[plugin.accountAddPersonalAccess]\nwidest_v4_prefix = 24\n"})
	b.CreateAccount("olga")
	for _, host := range []string{
		"10.0.0.0/16", "::ffff:10.0.0.0/112", "0.0.0.0/0", "::/0", "10.0.0.0/016",
		"10.0.0.1/24", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/ 24", "1.2.3.4/24;id", "$(id)", "0x0a.0.0.0/24",
	} {
		r := b.Admin("--json-greppable", "--osh", "accountAddPersonalAccess", "--account", "olga", "--host", "'"+host+"'", "--user-any", "--port-any")
		if r.Exit == 0 && host != "::/0" {
			t.Errorf("%q was added: %s", host, r.JSON()["value"])
		}
	}
	if r := b.MustOK("--osh", "accountListAccesses", "--account", "olga"); strings.Contains(r.Stdout, "/16") || strings.Contains(r.Stdout, "0.0.0.0/0") {
		t.Fatalf("a wide prefix got in: %s", r.Stdout)
	}
}
