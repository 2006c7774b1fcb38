package e2e

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestMFASourceTableCapped: an attacker rotating source addresses cannot grow the per-source
// MFA table past MFASourceTableMax (3 here). Three sources reach the password prompt of a
// pubkey-optional account (each try is recorded); a fourth, while all three are within the rate
// window, gets no prompt (refused, fail closed); the key holder still logs in; once the first
// ones are out of the window the fourth source evicts one and the person logs in with the
// password from it. All with the real ssh client, each source a loopback address.
func TestMFASourceTableCapped(t *testing.T) {
	const window = 15 // seconds: the first three sources stay in it while the fourth is refused
	b := testenv.Start(t, testenv.Options{Config: noPenalty + "MFASourceTableMax = 3\nMFASourceRateLimitSeconds = 15\n"})
	b.CreateAccount("gina")
	b.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	const pw = "gina's own password"
	setPassword(t, b, "gina", pw)

	first := time.Now()
	for _, src := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"} {
		term := startKbd(t, b, kbdOpts{from: src}, "gina", "--osh", "info")
		term.expect(0, "Password: ") // the try is recorded for the source before the prompt
		term.close()
	}
	fourth := kbdOpts{from: "127.0.0.24"}
	term := startKbd(t, b, fourth, "gina", "--osh", "info")
	exit, res := term.wait()
	if time.Since(first) > window*time.Second {
		t.Fatalf("the machine took %v to open four connections: the first sources left the %d s window before the fourth tried", time.Since(first), window)
	}
	if exit != 255 || strings.Contains(res.Stdout, "Password: ") {
		t.Fatalf("a fourth source was prompted although the table holds 3 sources within the window: exit %d\n%s", exit, res.Stdout)
	}
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("the admin's key login while the table is full: exit %d\n%s", r.Exit, r.Stderr)
	}
	// A flood from more addresses: each refused, the table stays at its cap.
	for i := range 6 {
		term := startKbd(t, b, kbdOpts{from: fmt.Sprintf("127.0.1.%d", 10+i)}, "gina", "--osh", "info")
		if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout, "Password: ") {
			t.Fatalf("flood source %d was prompted: exit %d\n%s", i, exit, res.Stdout)
		}
	}
	if time.Since(first) > window*time.Second {
		t.Fatalf("the flood took %v: the first sources left the %d s window", time.Since(first), window)
	}
	var rows int
	if err := b.App.Store.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT count(*) FROM mfa_sources`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("after the flood the table holds %d sources (%v), want its cap 3", rows, err)
	}

	// Out of the window the oldest source is evicted and the fourth is prompted.
	deadline := time.Now().Add(3*window*time.Second + 20*time.Second)
	for {
		term = startKbd(t, b, fourth, "gina", "--json-greppable", "--osh", "info")
		off := 0
		got := make(chan bool, 1)
		go func() {
			for range 200 {
				if strings.Contains(term.output(), "Password: ") {
					got <- true
					return
				}
				select {
				case <-term.done:
					got <- strings.Contains(term.output(), "Password: ")
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			got <- false
		}()
		if <-got {
			term.expect(off, "Password: ")
			term.send(pw + "\n")
			if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "gina" {
				t.Fatalf("gina from the fourth source once there is room: exit %d\n%s", exit, res.Stdout)
			}
			t.Logf("the fourth source was prompted %v after the first try", time.Since(first).Round(100*time.Millisecond))
			return
		}
		term.close()
		if time.Now().After(deadline) {
			t.Fatalf("the fourth source was never prompted, %v after the first sources left the window", time.Since(first))
		}
	}
}
