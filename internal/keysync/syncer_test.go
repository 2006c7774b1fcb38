package keysync

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// fakeSource answers what the test sets.
type fakeSource struct {
	mu   sync.Mutex
	snap Snapshot
	err  error
	n    int
}

func (f *fakeSource) Fetch(context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	return f.snap, f.err
}

func (f *fakeSource) set(s Snapshot, err error) {
	f.mu.Lock()
	f.snap, f.err = s, err
	f.mu.Unlock()
}

func (f *fakeSource) runs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

type auditRec struct {
	mu     sync.Mutex
	events []string
	fail   error
}

func (a *auditRec) append(_ context.Context, ev audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.events = append(a.events, ev.Type)
	return nil
}

func newTestSyncer(t *testing.T, src Source, aud *auditRec) (*Syncer, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Sync.MaxRemoveShare = 1
	cfg.Sync.Sources = []config.SyncSource{{Name: "fake", Kind: "dir", Path: "/unused"}}
	s := &Syncer{Store: st, Config: func() *config.Config { return &cfg }, Now: time.Now, AppendAudit: aud.append, Log: slog.New(slog.DiscardHandler),
		NewSource: func(config.SyncSource) (Source, error) { return src, nil }, Metrics: NewMetrics(prometheus.NewRegistry())}
	return s, st
}

// TestSyncAuditFailureFailsClosed: a change whose audit event cannot be written is not made.
func TestSyncAuditFailureFailsClosed(t *testing.T) {
	k := testKey(t, 1, "k")
	src := &fakeSource{snap: Snapshot{"alice": {Keys: []sshkey.Key{k}, Object: "o", Version: "sha256:x"}}}
	aud := &auditRec{fail: errors.New("disk full")}
	var alerts []string
	s, st := newTestSyncer(t, src, aud)
	s.Alert = func(source, detail string) { alerts = append(alerts, detail) }
	res := s.RunOnce(context.Background(), Options{})
	if res[0].Err == nil || len(res[0].Applied) != 0 || len(alerts) != 1 {
		t.Fatalf("result %+v alerts %q", res[0], alerts)
	}
	if _, err := st.GetAccount(context.Background(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alice created without an audit event: %v", err)
	}
	if v := testutil.ToFloat64(s.Metrics.Runs.WithLabelValues("fake", "failed")); v != 1 {
		t.Fatalf("failed runs %v", v)
	}
	aud.fail = nil
	res = s.RunOnce(context.Background(), Options{})
	if res[0].Err != nil || len(res[0].Applied) != 1 || len(aud.events) != 1 || aud.events[0] != "sync.create_account" {
		t.Fatalf("result %+v events %q", res[0], aud.events)
	}
}

// TestSyncRunsOnTheClock: a run at start, then one per tick of the injected clock, and one per
// trigger; nothing between.
func TestSyncRunsOnTheClock(t *testing.T) {
	k := testKey(t, 1, "k")
	src := &fakeSource{snap: Snapshot{"alice": {Keys: []sshkey.Key{k}, Object: "o"}}}
	s, _ := newTestSyncer(t, src, &auditRec{})
	s.Trigger = make(chan struct{}, 1)
	ticks := make(chan time.Time)
	var asked []time.Duration
	var mu sync.Mutex
	after := func(d time.Duration) <-chan time.Time {
		mu.Lock()
		asked = append(asked, d)
		mu.Unlock()
		return ticks
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, after); close(done) }()
	waitRuns := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for src.runs() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d runs, want %d", src.runs(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitRuns(1)
	ticks <- time.Now()
	waitRuns(2)
	s.Trigger <- struct{}{}
	waitRuns(3)
	cancel()
	<-done
	if src.runs() != 3 {
		t.Fatalf("%d runs", src.runs())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 2 || asked[0] != config.DefaultSyncInterval {
		t.Fatalf("waits asked: %v", asked)
	}
}

// TestSyncFreezeOwnership: the sync unfreezes only what it froze; an administrator's freeze, or
// a re-freeze with their own reason, stays; an account the source does not manage is refused.
func TestSyncFreezeOwnership(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, 1, "k")
	src := &fakeSource{snap: Snapshot{"alice": {Keys: []sshkey.Key{k}, Object: "o"}, "bob": {Keys: []sshkey.Key{testKey(t, 2, "b")}, Object: "o"}}}
	s, st := newTestSyncer(t, src, &auditRec{})
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := st.CreateAccount(ctx, store.Account{Name: "carol", CreatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SyncFreeze(ctx, "carol", "fake", true, "x"); !errors.Is(err, sqlite.ErrNotManaged) {
		t.Fatalf("freeze of an unmanaged account: %v", err)
	}
	// alice removed: frozen by the sync. Then an administrator re-freezes with their reason.
	src.set(Snapshot{"bob": src.snap["bob"]}, nil)
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil || r[0].Plan.FreezeCount() != 1 {
		t.Fatalf("%+v", r[0])
	}
	if err := st.UpdateAccount(ctx, "alice", func(a *store.Account) error { a.FrozenReason = "left the company"; return nil }); err != nil {
		t.Fatal(err)
	}
	src.set(Snapshot{"alice": {Keys: []sshkey.Key{k}, Object: "o"}, "bob": src.snap["bob"]}, nil)
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if a, _ := st.GetAccount(ctx, "alice"); !a.Frozen || a.FrozenReason != "left the company" {
		t.Fatalf("the sync lifted an administrator's freeze: %+v", a)
	}
	// Its keys still follow the source: only the freeze is the administrator's.
	if keys, _ := st.ListIngressKeys(ctx, "alice"); len(keys) != 1 {
		t.Fatalf("keys of a managed account frozen by hand are still synced: %v", keys)
	}
}

// TestSyncAppliesIngressKeysFrom: keys a sync run adds carry the bastion's from= list, and a
// change of ingressKeysFrom reaches the keys already synced at the next run.
func TestSyncAppliesIngressKeysFrom(t *testing.T) {
	ctx := context.Background()
	k := testKey(t, 1, "k")
	src := &fakeSource{snap: Snapshot{"alice": {Keys: []sshkey.Key{k}, Object: "o"}}}
	s, st := newTestSyncer(t, src, &auditRec{})
	cfg := *s.Config()
	cfg.IngressKeysFrom = []string{"127.0.0.2"}
	s.Config = func() *config.Config { return &cfg }
	fromOf := func() string {
		t.Helper()
		keys, err := st.ListIngressKeys(ctx, "alice")
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %v %v", keys, err)
		}
		return keys[0].From
	}
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if f := fromOf(); f != "127.0.0.2" {
		t.Fatalf("synced key from %q", f)
	}
	// Nothing changed: the next run changes nothing (the stored line is what the policy makes).
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil || len(r[0].Applied) != 0 {
		t.Fatalf("second run: %+v", r[0])
	}
	cfg2 := cfg
	cfg2.IngressKeysFrom = []string{"127.0.0.4", "10.0.0.0/8"}
	s.Config = func() *config.Config { return &cfg2 }
	if r := s.RunOnce(ctx, Options{}); r[0].Err != nil || len(r[0].Applied) != 2 {
		t.Fatalf("run after the change: %+v", r[0])
	}
	if f := fromOf(); f != "127.0.0.4,10.0.0.0/8" {
		t.Fatalf("after the change, from %q", f)
	}
}
