package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestReload: a changed configuration file takes effect on Reload (SIGHUP); a broken one is
// refused and the running configuration stays.
func TestReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	cfg := filepath.Join(dir, "gatehouse.toml")
	os.WriteFile(cfg, []byte("bastionName = \"one\"\n"), 0o600)
	a, err := Open(context.Background(), Options{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Config().BastionName != "one" {
		t.Fatalf("initial name %q", a.Config().BastionName)
	}
	os.WriteFile(cfg, []byte("bastionName = \"two\"\n"), 0o600)
	if err := a.Reload(); err != nil || a.Config().BastionName != "two" {
		t.Fatalf("reload: %v, name %q", err, a.Config().BastionName)
	}
	os.WriteFile(cfg, []byte("bastionName = \"three\"\nnoSuchOption = 1\n"), 0o600)
	if err := a.Reload(); err == nil || a.Config().BastionName != "two" {
		t.Fatalf("a bad file was applied: %v, name %q", err, a.Config().BastionName)
	}
}
