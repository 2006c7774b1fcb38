package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// TestClusterMFASourceSpansNodes: the per-source throttling of logins without a key
// (MFASourceRateLimitAttempts, 3 per minute) is counted in the store. A source that used its 3
// password tries on node A gets no prompt on node B; another source still logs in on node B.
// Then a fresh source opens two connections on each node at the same moment and answers every
// prompt wrong: the two nodes count into one row, so the connections together get 3 prompts,
// not 3 per node. (The per-source penalties are off: they would refuse the source at the door.)
func TestClusterMFASourceSpansNodes(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: noPenalty})
	a, b := nodes[0], nodes[1]
	a.CreateAccount("gina")
	a.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	const pw = "gina's own password"
	setPassword(t, a, "gina", pw)

	stranger := kbdOpts{from: "127.0.0.5"}
	term := startKbd(t, a, stranger, "gina", "--osh", "info")
	off := 0
	for range 3 {
		off = term.expect(off, "Password: ")
		term.send("guess-on-a\n")
	}
	if exit, _ := term.wait(); exit != 255 {
		t.Fatal("wrong guesses logged in on node A")
	}
	term = startKbd(t, b, stranger, "gina", "--osh", "info")
	if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout, "Password: ") {
		t.Fatalf("node B prompted the source that used its tries on node A: exit %d\n%s", exit, res.Stdout)
	}
	term = startKbd(t, b, kbdOpts{from: "127.0.0.1"}, "gina", "--json-greppable", "--osh", "info")
	term.expect(0, "Password: ")
	term.send(pw + "\n")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "gina" {
		t.Fatalf("gina from another source on node B: exit %d\n%s", exit, res.Stdout)
	}

	// Both nodes at once, two connections on each, from one fresh source: 3 prompts in all.
	racer := kbdOpts{from: "127.0.0.6"}
	var terms []*kbdTerm
	for _, n := range []*testenv.Bastion{a, b, a, b} {
		terms = append(terms, startKbd(t, n, racer, "gina", "--osh", "info"))
	}
	prompts := make([]int, len(terms))
	var wg sync.WaitGroup
	for i, term := range terms {
		wg.Go(func() {
			seen := 0
			for {
				select {
				case code := <-term.exit:
					if code != 255 {
						t.Errorf("connection %d: exit %d", i, code)
					}
					prompts[i] = seen
					return
				case <-time.After(20 * time.Millisecond):
				}
				if n := strings.Count(term.output(), "Password: "); n > seen {
					seen = n
					term.send("guess-racing\n")
				}
			}
		})
	}
	wg.Wait()
	if total := prompts[0] + prompts[1] + prompts[2] + prompts[3]; total != 3 {
		t.Fatalf("a source racing on two nodes got %v prompts (A, B, A, B), want 3 in all", prompts)
	}
	t.Logf("racing source: %v prompts (connections on A, B, A, B)", prompts)
}

// TestClusterLockReplayedAfterListenGap: a lock (then an unlock) typed through node A while node
// B's LISTEN connection is down never reaches node B as a notification; node B reads it from the
// store once its LISTEN connection is back and locks (then unlocks) alice's session running on
// it. The LISTEN connections are killed in PostgreSQL (pg_terminate_backend) again and again
// while the command runs, so that the notification is lost for sure.
func TestClusterLockReplayedAfterListenGap(t *testing.T) {
	dsn := pgtest.Fresh(t)
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: dsn, Config: "metricsListen = \"127.0.0.1:0\"\n"})
	a, b := nodes[0], nodes[1]
	sshd, aliceKey := targetSetup(t, a)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo on-b-$((1+1))\r")
	off = term.Expect(off, "on-b-2", 10*time.Second)

	texts := map[string]string{"lock": "This session is locked", "unlock": "Session unlocked"}
	replayed := 0
	for _, cmd := range []string{"lock", "unlock"} {
		for attempt := 1; ; attempt++ {
			received := metric(t, b, "gatehouse_cluster_session_controls_received_total")
			stop, killed := killListeners(t, dsn)
			waitCond(t, 5*time.Second, "node B's LISTEN connection down", func() bool { return !b.App.ClusterListening() })
			// Both nodes' reconnections killed a few times: their backoff (doubling from 100 ms)
			// now leaves their LISTEN connections down most of the time the command takes.
			waitCond(t, 10*time.Second, "LISTEN connections killed 6 times", func() bool { return killed.Load() >= 6 })
			if r := a.SSH(aliceKey, "alice", "--osh", cmd); r.Exit != 0 {
				t.Fatalf("%s through node A: exit %d %s", cmd, r.Exit, r.Stdout)
			}
			stop()
			start := time.Now()
			off = term.Expect(off, texts[cmd], 5*time.Second)
			if got := metric(t, b, "gatehouse_cluster_session_controls_received_total"); got != received {
				// Node B's LISTEN was up at that very instant: not the case under test. Undo it
				// live and try again.
				if attempt == 5 {
					t.Fatalf("node B received the %s live %d times: the notification was never lost", cmd, attempt)
				}
				undo := map[string]string{"lock": "unlock", "unlock": "lock"}[cmd]
				waitCond(t, 5*time.Second, "node B listening", b.App.ClusterListening)
				if r := a.SSH(aliceKey, "alice", "--osh", undo); r.Exit != 0 {
					t.Fatalf("%s through node A: exit %d %s", undo, r.Exit, r.Stdout)
				}
				off = term.Expect(off, texts[undo], 5*time.Second)
				continue
			}
			replayed++
			t.Logf("%s replayed on node B %v after its LISTEN connection was let back (attempt %d)", cmd, time.Since(start).Round(time.Millisecond), attempt)
			if got := metric(t, b, "gatehouse_cluster_session_locks_replayed_total"); got != fmt.Sprint(replayed) {
				t.Fatalf("node B replayed %s locks, want %d", got, replayed)
			}
			break
		}
	}
	// The session works again after the replayed unlock.
	term.Send("echo back-$((2+2))\r")
	term.Expect(off, "back-4", 5*time.Second)
}

// killListeners terminates every LISTEN connection of the test database every few
// milliseconds until the returned func is called.
func killListeners(t *testing.T, dsn string) (stop func(), killed *atomic.Int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	killed = new(atomic.Int64)
	go func() {
		defer close(done)
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			var n int64
			if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&n); err == nil {
				killed.Add(n)
			}
			select {
			case <-ctx.Done():
			case <-time.After(3 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop, killed
}

// waitCond waits until cond holds, or fails the test after timeout.
func waitCond(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClusterStrangerCannotLockAcrossNodes: one source may add at most MFASourceLockCap (3)
// failures to an account's lockout (MFALockAfterFailures, 6 by default). A stranger guessing
// gina's password 3 times on node A, then, past the per-source window, 3 times on node B, used
// to add 3 per node: 6, and gina was locked out. The per-source counts are in the store now:
// node B adds none, and gina logs in.
func TestClusterStrangerCannotLockAcrossNodes(t *testing.T) {
	nodes := testenv.StartNodes(t, 2, testenv.Options{Store: pgtest.Fresh(t), Config: noPenalty})
	a, b := nodes[0], nodes[1]
	a.CreateAccount("gina")
	a.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
	const pw = "gina's own password"
	setPassword(t, a, "gina", pw)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	for _, n := range nodes {
		n.App.MFA.Now, n.App.Server.Now = clock, clock
	}
	stranger := kbdOpts{from: "127.0.0.8"}
	for _, n := range nodes {
		term := startKbd(t, n, stranger, "gina", "--osh", "info")
		off := 0
		for range 3 {
			off = term.expect(off, "Password: ")
			term.send("guess\n")
		}
		if exit, _ := term.wait(); exit != 255 {
			t.Fatal("wrong guesses logged in")
		}
		offset.Add(int64(2 * time.Minute)) // past the per-source window, within the fail interval
	}
	term := startKbd(t, b, kbdOpts{from: "127.0.0.1"}, "gina", "--json-greppable", "--osh", "info")
	term.expect(0, "Password: ")
	term.send(pw + "\n")
	if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "gina" {
		t.Fatalf("gina after one stranger's 3 guesses on each node: exit %d\n%s", exit, res.Stdout)
	}
}
