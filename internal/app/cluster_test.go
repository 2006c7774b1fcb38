package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/store/postgres/pgtest"
)

func openNode(t *testing.T, dsn, node string, sealKey []byte) (*App, error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), node)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(sealKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), Options{DataDir: dir, Store: dsn, Node: node, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Cleanup(func() { a.Close() })
	}
	return a, err
}

func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// TestClusterNodesShareHostKeysAndRefuseAnotherSealKey: nodes on one PostgreSQL store serve
// the same host keys (kept sealed in the store, not in their data directories); a node with
// another seal key is refused at start with a message saying what to do.
func TestClusterNodesShareHostKeysAndRefuseAnotherSealKey(t *testing.T) {
	dsn := pgtest.Fresh(t)
	key := randomKey()
	a, err := openNode(t, dsn, "node-a", key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openNode(t, dsn, "node-b", key)
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := a.Server.HostKeys(), b.Server.HostKeys()
	if len(ka) != 2 || len(ka) != len(kb) {
		t.Fatalf("host keys: %d and %d", len(ka), len(kb))
	}
	for i := range ka {
		if !bytes.Equal(ka[i].PublicKey().Marshal(), kb[i].PublicKey().Marshal()) {
			t.Fatalf("host key %d differs between the nodes", i)
		}
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, "ssh_host_ed25519_key")); err == nil {
		t.Fatal("a cluster node wrote a host key file of its own")
	}
	if a.NodeName() != "node-a" {
		t.Fatalf("node name %q", a.NodeName())
	}
	_, err = openNode(t, dsn, "node-c", randomKey())
	if err == nil || !strings.Contains(err.Error(), "seal key") || !strings.Contains(err.Error(), "seal.key") {
		t.Fatalf("a node with another seal key: %v", err)
	}
}

// TestClusterStoreRefusesOtherURLs: --store takes a postgres:// URL only.
func TestClusterStoreRefusesOtherURLs(t *testing.T) {
	_, err := openNode(t, "mysql://root@db/x", "n", randomKey())
	if err == nil || !strings.Contains(err.Error(), "postgres://") {
		t.Fatalf("a mysql:// store: %v", err)
	}
}
