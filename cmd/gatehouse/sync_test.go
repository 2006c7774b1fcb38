package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"gatehouse/internal/store/sqlite"
	"gatehouse/internal/testenv"
)

// TestSyncCommand: `gatehouse sync --dry-run` prints the diff and changes nothing, next to a
// running server; a real run is refused while the server holds the data directory (it names the
// pid to signal), and runs once the server is stopped.
func TestSyncCommand(t *testing.T) {
	dir := t.TempDir()
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("[sync]\nmaxRemoveShare = 1\n[[sync.source]]\nname = \"files\"\nkind = \"dir\"\npath = %q\n", dir)})
	// The run at start finds the directory empty (refused); wait for it before writing.
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(b.App.Sync.Metrics.Runs.WithLabelValues("files", "refused")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the sync never ran at start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, pub := testenv.NewKey(t, "ed25519", "hank")
	if err := os.WriteFile(filepath.Join(dir, "hank.pub"), []byte(pub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"sync", "--dry-run", "--data-dir", b.DataDir}, &out, &errb); code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "source files: 1 change(s) would be made (dry run, nothing changed)") ||
		!strings.Contains(out.String(), "+ account hank (1 key(s))") || !strings.Contains(out.String(), "sha256:") {
		t.Fatalf("dry run printed:\n%s", out.String())
	}
	if _, err := b.App.Store.GetAccount(context.Background(), "hank"); err == nil {
		t.Fatal("the dry run created hank")
	}
	out.Reset()
	errb.Reset()
	if code := run([]string{"sync", "--data-dir", b.DataDir}, &out, &errb); code == 0 ||
		!strings.Contains(errb.String(), "kill -USR1 "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a real run next to the server: exit %d\n%s%s", code, out.String(), errb.String())
	}
	b.Stop()
	out.Reset()
	errb.Reset()
	if code := run([]string{"sync", "--data-dir", b.DataDir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "1 of 1 change(s) made") {
		t.Fatalf("real run: exit %d\n%s%s", code, out.String(), errb.String())
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(b.DataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetAccount(context.Background(), "hank"); err != nil {
		t.Fatalf("hank not created by the real run: %v", err)
	}
	// The events the command appended continue the server's chain.
	out.Reset()
	if code := run([]string{"audit", "verify", "--data-dir", b.DataDir}, &out, &errb); code != 0 {
		t.Fatalf("audit verify after gatehouse sync: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"sync", "--dry-run", "--data-dir", b.DataDir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "0 change(s)") {
		t.Fatalf("dry run after: exit %d\n%s", code, out.String())
	}
}

// TestSyncSignal: the real binary, as an operator uses it: `gatehouse sync` next to a running
// server names its pid; kill -USR1 PID runs the sync at once, and the synced key logs in.
func TestSyncSignal(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	keys := t.TempDir()
	os.MkdirAll(dataDir, 0o700)
	os.WriteFile(filepath.Join(dataDir, "gatehouse.toml"), []byte(fmt.Sprintf("perSourcePenalties = false\n[sync]\ninterval = \"24h\"\nmaxRemoveShare = 1\n"+
		"[[sync.source]]\nname = \"files\"\nkind = \"dir\"\npath = %q\n", keys)), 0o600)
	admin, _ := testenv.NewKey(t, "ed25519", "admin")
	srv := startServer(t, bin, dataDir, admin+".pub")
	// The run at start finds the directory empty (refused, logged); the next is a day away.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(srv.out.String(), "sync refused"); {
		if time.Now().After(deadline) {
			t.Fatalf("no sync at start:\n%s", srv.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ivy, ivyPub := testenv.NewKey(t, "ed25519", "ivy")
	os.WriteFile(filepath.Join(keys, "ivy.pub"), []byte(ivyPub+"\n"), 0o644)
	out, err := exec.Command(bin, "sync", "--data-dir", dataDir).CombinedOutput()
	want := fmt.Sprintf("kill -USR1 %d", srv.cmd.Process.Pid)
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("gatehouse sync next to the server: %v\n%s", err, out)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("ssh", sshArgs(srv.addr, ivy, "ivy", "--osh", "info")...).CombinedOutput()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ivy never logged in after SIGUSR1: %v %s\n%s", err, out, srv.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
