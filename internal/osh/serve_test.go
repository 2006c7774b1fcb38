package osh_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/crash"
	"gatehouse/internal/osh"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// TestServeReturnsTheOutcome: the dispatcher returns what the session did and keeps it in its own
// state, not in the shared Session; a panic carries the outcome known so far to ingress's
// recovery point (crash.Panic.Known).
func TestServeReturnsTheOutcome(t *testing.T) {
	ctx := context.Background()
	st, acct := storeWithBob(t)
	cfg := config.Default()
	reg := osh.NewRegistry()
	reg.Add(&osh.Command{Name: "testFine", Category: osh.Open, Summary: "fine",
		Run: func(context.Context, *osh.Call) osh.Result { return osh.Result{Code: "OK"} }})
	reg.Add(&osh.Command{Name: "testPanic", Category: osh.Open, Summary: "panics",
		Run: func(context.Context, *osh.Call) osh.Result { panic("test fault") }})
	e := &osh.Env{Store: st, Config: func() *config.Config { return &cfg }, Registry: reg, Now: time.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	newSession := func() *session.Session {
		return &session.Session{Account: acct, Roles: session.RolesOf(acct), In: eofReader{}, Out: io.Discard, Err: io.Discard}
	}

	out, code := e.Serve(ctx, newSession(), e.Parse("--osh testFine"))
	if code != 0 || out.Plugin != "testFine" || !out.Allowed {
		t.Fatalf("Serve: %+v exit %d, want testFine allowed, 0", out, code)
	}
	// Each Serve starts from nothing: what an earlier one did is not carried over.
	out, _ = e.Serve(ctx, newSession(), e.Parse("--osh noSuchCommand"))
	if out.Plugin != "" || out.Allowed {
		t.Fatalf("an unknown command: %+v", out)
	}

	p := crash.Catch(func() { e.Serve(ctx, newSession(), e.Parse("--osh testPanic")) })
	if p == nil {
		t.Fatal("the panic was swallowed: ingress's recovery point must see it")
	}
	if known, ok := p.Known.(session.Outcome); !ok || known.Plugin != "testPanic" || !known.Allowed || p.Value != "test fault" {
		t.Fatalf("panic %v carries %#v, want the outcome so far (testPanic, allowed)", p.Value, p.Known)
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// storeWithBob is an SQLite store in a temp dir holding one account, bob, returned as read back.
func storeWithBob(t *testing.T) (*sqlite.Store, store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.CreateAccount(ctx, store.Account{Name: "bob", CreatedAt: time.Now(), MaxInactiveDays: -1}, nil); err != nil {
		t.Fatal(err)
	}
	acct, err := st.GetAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	return st, acct
}
