package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/sqlite"
)

func writePub(t *testing.T) string {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	p := filepath.Join(t.TempDir(), "admin.pub")
	if err := os.WriteFile(p, ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMigrateStoreCommand: `gatehouse init` makes an SQLite data directory, `gatehouse
// migrate-store` copies it into PostgreSQL (the account keeps its id), and a second run is
// refused without changing anything. `init --store` prepares a PostgreSQL store directly.
func TestMigrateStoreCommand(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	pub := writePub(t)
	var out, errb bytes.Buffer
	if code := run([]string{"init", "--data-dir", dir, "--admin", "alice", "--admin-key", pub}, &out, &errb); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	src, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := src.GetAccount(ctx, "alice")
	src.Close()

	dsn := pgtest.Fresh(t)
	out.Reset()
	if code := run([]string{"migrate-store", "--from", dir, "--to", dsn}, &out, &errb); code != 0 {
		t.Fatalf("migrate-store: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "accounts") || !strings.Contains(out.String(), "seal.key") {
		t.Fatalf("report: %s", out.String())
	}
	dst, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.GetAccount(ctx, "alice")
	if err != nil || got.ID != want.ID || !got.HasGrant("admin") {
		t.Fatalf("alice in PostgreSQL: %+v %v (want id %s)", got, err, want.ID)
	}
	errb.Reset()
	if code := run([]string{"migrate-store", "--from", dir, "--to", dsn}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "nothing copied") {
		t.Fatalf("second migrate-store: %d %s", code, errb.String())
	}
	if code := run([]string{"migrate-store", "--from", dir, "--to", "/tmp/x"}, &out, &errb); code == 0 {
		t.Fatal("migrate-store to a non-postgres target succeeded")
	}

	dsn2 := pgtest.Fresh(t)
	errb.Reset()
	if code := run([]string{"init", "--data-dir", filepath.Join(t.TempDir(), "n1"), "--store", dsn2, "--admin", "bob", "--admin-key", pub}, &out, &errb); code != 0 {
		t.Fatalf("init --store: %d %s", code, errb.String())
	}
	pg, err := postgres.Open(ctx, dsn2)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if a, err := pg.GetAccount(ctx, "bob"); err != nil || !a.HasGrant("admin") {
		t.Fatalf("init --store: %+v %v", a, err)
	}
}
