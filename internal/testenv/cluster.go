package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/app"
)

// StartNodes starts n gatehouse nodes on the one PostgreSQL store o.Store, all at the same
// moment (their app.Open and first-admin creation run concurrently, as nodes booted together
// on an empty database would), each with its own data directory and the cluster's one seal key.
// Node i is named "node-a", "node-b", …; they share the first admin key o.Admin.
func StartNodes(t testing.TB, n int, o Options) []*Bastion {
	t.Helper()
	if o.Store == "" {
		t.Fatal("StartNodes needs Options.Store (a postgres:// URL)")
	}
	if o.Admin == "" {
		o.Admin, _ = NewKey(t, "ed25519", "admin")
	}
	var key [32]byte
	_, _ = rand.Read(key[:])
	opts := make([]Options, n)
	root := t.TempDir()
	for i := range opts {
		opts[i] = o
		opts[i].Node = fmt.Sprintf("node-%c", 'a'+i)
		opts[i].DataDir = filepath.Join(root, opts[i].Node)
		if err := os.MkdirAll(opts[i].DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		// The nodes of a cluster share the seal key (docs/cluster.md).
		if err := os.WriteFile(filepath.Join(opts[i].DataDir, "seal.key"), []byte(hex.EncodeToString(key[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if o.Config != "" {
			if err := os.WriteFile(filepath.Join(opts[i].DataDir, "gatehouse.toml"), []byte(o.Config), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	type opened struct {
		a      *app.App
		ctx    context.Context
		cancel context.CancelFunc
		err    error
	}
	res := make([]opened, n)
	clock := new(Clock) // one time for the whole cluster
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range res {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithCancel(context.Background())
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", opts[i].Node)
			}
			a, err := app.Open(ctx, app.Options{DataDir: opts[i].DataDir, Listen: "127.0.0.1:0", Log: log, Store: o.Store, Node: opts[i].Node, Clock: clock})
			if err == nil {
				if _, err = a.CreateFirstAdmin(ctx, "admin", o.Admin+".pub"); err != nil {
					a.Close()
				}
			}
			res[i] = opened{a, ctx, cancel, err}
		})
	}
	close(start)
	wg.Wait()
	for _, r := range res {
		if r.err != nil {
			for _, r := range res {
				if r.err == nil {
					r.a.Close()
				}
				r.cancel()
			}
			t.Fatalf("start a node: %v", r.err)
		}
	}
	out := make([]*Bastion, n)
	for i, r := range res {
		out[i] = launch(t, r.ctx, r.cancel, r.a, opts[i], clock)
	}
	// Ready when every node hears the others' session controls (LISTEN is in place).
	deadline := time.Now().Add(15 * time.Second)
	for _, b := range out {
		for !b.App.ClusterListening() {
			if time.Now().After(deadline) {
				t.Fatal("a node does not listen to the cluster's session controls")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out
}
