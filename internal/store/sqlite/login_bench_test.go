package sqlite

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// BenchmarkLoginReads: the store's part of a login with a key and `--osh info` on a single
// SQLite node (what ingress, the MFA policy and info read and write): the source's penalty, the
// account, its key, its factors, its groups, the last-seen time, the session lock states. It
// measures what re-preparing the same statements at every call cost (issue 14; the statements
// are prepared once per connection and kept since).
//
//	go test ./internal/store/sqlite -run XXX -bench LoginReads -benchmem
func BenchmarkLoginReads(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "g.db"))
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	key := store.IngressKey{Account: "alice", Type: "ssh-ed25519", Fingerprint: "SHA256:alice", Line: "ssh-ed25519 AAAA alice", CreatedAt: now}
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: now, MaxInactiveDays: -1}, []store.IngressKey{key}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateGroup(ctx, store.Group{Name: "web", CreatedAt: now, IdleLockTimeout: -1, IdleKillTimeout: -1,
		Roles: map[string][]string{store.RoleMember: {"alice"}}}); err != nil {
		b.Fatal(err)
	}
	c0 := cpuTime()
	for b.Loop() {
		if _, err := s.SourcePenalty(ctx, "192.0.2.1"); err != nil {
			b.Fatal(err)
		}
		for range 2 { // the key check, then the session
			if _, err := s.GetAccount(ctx, "alice"); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.FindIngressKey(ctx, "alice", "SHA256:alice"); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetMFA(ctx, "alice"); err != nil && err != store.ErrNotFound {
			b.Fatal(err)
		}
		if _, err := s.GroupsOf(ctx, "alice"); err != nil {
			b.Fatal(err)
		}
		if err := s.TouchAccount(ctx, "alice", now); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SessionLockStates(ctx, []string{"alice"}); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time (getrusage) holds steadier than the wall time on a loaded machine.
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // Linux: cannot fail with RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
