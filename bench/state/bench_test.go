package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gatehouse/internal/app"
	"gatehouse/internal/osh"
)

// BenchmarkListings runs the two ~10 MB listing answers (and accountInfo --all with every
// option) at BENCH_STATE_N accounts (default 10,000) as the bench does: the command, then its
// JSON answer written as a session writes it (emitJSON), with the allocations per call.
//
//	go test ./bench/state -run XXX -bench Listings -benchmem -count 5 -benchtime 20x
func BenchmarkListings(b *testing.B) {
	n := 10000
	if s := os.Getenv("BENCH_STATE_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	a, err := app.Open(ctx, app.Options{DataDir: filepath.Join(b.TempDir(), "data"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateFirstAdmin(ctx, "admin", ""); err != nil {
		b.Fatal(err)
	}
	if err := build(ctx, a.Store, n); err != nil {
		b.Fatal(err)
	}
	admin, err := a.Store.GetAccount(ctx, "admin")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range [][]string{{"accountList", "--audit"}, {"accountInfo", "--all"}, {"accountInfo", "--all", "--with-everything"}} {
		b.Run(strings.Join(c, "_"), func(b *testing.B) {
			b.ReportAllocs()
			var out counter
			for b.Loop() {
				s := &osh.Session{ID: "bench", Account: admin, Roles: osh.RolesOf(admin), In: strings.NewReader(""), Out: &out, Err: &out}
				s.Reload = func(ctx context.Context) error { return nil }
				r := a.Env.Run(ctx, s, c[0], c[1:], true)
				if err := emitJSON(&out, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
