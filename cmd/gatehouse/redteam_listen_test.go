package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedteamFirstStartOnABusyPort: the README's first command on a fresh data directory, with
// --listen taken by something else (or not a valid address). The start created the first
// admin and its key pair, then failed to listen; the next start found an admin and never said
// where its key was, nor the host key fingerprints, nor how to log in. Now it fails before
// creating anyone, and says "another gatehouse running?" only when the port is taken.
func TestRedteamFirstStartOnABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct{ listen, says, never string }{
		{busy.Addr().String(), "another gatehouse running?", ""},
		{"127.0.0.1:99999", "invalid port", "another gatehouse running?"},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		var out, errb bytes.Buffer
		code := run([]string{"serve", "--data-dir", dataDir, "--listen", c.listen}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), c.says) || c.never != "" && strings.Contains(errb.String(), c.never) {
			t.Errorf("--listen %s: exit %d, %q", c.listen, code, errb.String())
		}
		if _, err := os.Stat(filepath.Join(dataDir, "admin_ed25519")); err == nil {
			t.Errorf("--listen %s: the first admin's key was made by a start that failed", c.listen)
		}
	}
}
