package e2e

import (
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// TestClusterSessionControlsReachOtherNode: alice's relayed session runs on node B; `lock`
// and `unlock` she types through node A lock and unlock it, and an admin freezing her through
// node A ends it, each within a second (PostgreSQL LISTEN/NOTIFY).
func TestClusterSessionControlsReachOtherNode(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t)})
	a, b := nodes[0], nodes[1]
	sshd, aliceKey := targetSetup(t, a)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting to", 10*time.Second)
	term.Send("echo on-b-$((1+1))\r")
	off = term.Expect(off, "on-b-2", 10*time.Second)

	if r := a.SSH(aliceKey, "alice", "--osh", "lock"); r.Exit != 0 {
		t.Fatalf("lock through node A: exit %d %s", r.Exit, r.Stdout)
	}
	off = term.Expect(off, "This session is locked", time.Second)
	if r := a.SSH(aliceKey, "alice", "--osh", "unlock"); r.Exit != 0 {
		t.Fatalf("unlock through node A: exit %d %s", r.Exit, r.Stdout)
	}
	off = term.Expect(off, "Session unlocked", time.Second)

	start := time.Now()
	a.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "incident 7")
	term.Expect(off, "incident 7", time.Second)
	if code := term.Wait(time.Second); code != 131 {
		t.Fatalf("the session on node B ended with %d, want 131 (frozen)", code)
	}
	t.Logf("freeze through node A ended the session on node B in %s", time.Since(start).Round(time.Millisecond))
}
