package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ingress"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// sshShowingBanners is b.SSH with the client's LogLevel at INFO, where OpenSSH prints the
// server's authentication banners (on stderr).
func sshShowingBanners(t *testing.T, b *testenv.Bastion, key, account string, words ...string) testenv.Result {
	t.Helper()
	args := b.SSHArgs(key, account)
	for i, a := range args {
		if a == "LogLevel=ERROR" {
			args[i] = "LogLevel=INFO"
		}
	}
	return runSSH(t, append(append(args, "--"), words...))
}

// TestClusterPostgresDown: with the PostgreSQL store down, a new login is refused with a clear
// message (fail closed); a relayed session already running goes on; once PostgreSQL is back,
// logins work again within seconds, without restarting gatehouse.
func TestClusterPostgresDown(t *testing.T) {
	srv := pgtest.StartServer(t)
	b := testenv.Start(t, testenv.Options{Store: srv.URL(), Node: "solo"})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo before-$((1+1))\r")
	off = term.Expect(off, "before-2", 10*time.Second)

	srv.Stop()
	r := sshShowingBanners(t, b, aliceKey, "alice", "--json-greppable", "--osh", "info")
	if r.Exit != 255 || strings.Contains(r.Stdout, "JSON_OUTPUT") || !strings.Contains(r.Stderr, strings.TrimSpace(ingress.StoreDownBanner)) {
		t.Fatalf("login with the store down: exit %d\nstdout %s\nstderr %s", r.Exit, r.Stdout, r.Stderr)
	}
	if r := b.Admin("--osh", "info"); r.Exit != 255 {
		t.Fatalf("admin login with the store down: exit %d", r.Exit)
	}
	// A name that does not exist gets the very same refusal: the outage tells no account apart.
	if r2 := sshShowingBanners(t, b, aliceKey, "nosuchuser", "--json-greppable", "--osh", "info"); r2.Exit != r.Exit || strings.ReplaceAll(r2.Stderr, "nosuchuser@", "alice@") != r.Stderr {
		t.Fatalf("an unknown name is refused differently while the store is down:\n%q\n%q", r2.Stderr, r.Stderr)
	}
	term.Send("echo during-$((2+2))\r")
	off = term.Expect(off, "during-4", 10*time.Second)

	srv.Start()
	back := time.Now()
	for {
		r = b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "info")
		if r.Exit == 0 {
			break
		}
		if time.Since(back) > 15*time.Second {
			t.Fatalf("logins still refused %s after PostgreSQL came back: exit %d %s", time.Since(back), r.Exit, r.Stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("logins work again %s after PostgreSQL came back", time.Since(back).Round(time.Millisecond))
	term.Send("echo after-$((3+3))\r")
	term.Expect(off, "after-6", 10*time.Second)
	term.Send("exit 3\r")
	if code := term.Wait(10 * time.Second); code != 3 {
		t.Fatalf("the session that ran through the outage ended with %d, want 3", code)
	}
}
