package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/testenv"
)

// TestAuditVerifyDetectsTruncation: a bastion sends its signed checkpoints to syslog; once it is
// stopped, its audit log is cut back to an earlier checkpoint (what someone hiding the last
// actions would do). `audit verify` alone can only say the log is not closed; --strict refuses
// it; --syslog names the truncation.
func TestAuditVerifyDetectsTruncation(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	b := testenv.Start(t, testenv.Options{DataDir: dataDir,
		Config: fmt.Sprintf("syslogAddress = \"udp://%s\"\nauditCheckpointEvery = 3\n", pc.LocalAddr())})
	for i := 0; i < 4; i++ {
		b.Admin("--osh", "info")
	}
	b.Stop()
	// The syslog daemon's file, up to the shutdown checkpoint.
	var syslogged bytes.Buffer
	buf := make([]byte, 65536)
	for !strings.Contains(syslogged.String(), `kind="shutdown"`) {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no shutdown checkpoint in syslog: %v\n%s", err, syslogged.String())
		}
		syslogged.Write(buf[:n])
		syslogged.WriteByte('\n')
	}
	syslogFile := filepath.Join(t.TempDir(), "syslog")
	os.WriteFile(syslogFile, syslogged.Bytes(), 0o600)

	verify := func(extra ...string) (int, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"audit", "verify", "--data-dir", dataDir}, extra...), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := verify("--syslog", syslogFile); code != 0 || !strings.Contains(out, "closed") {
		t.Fatalf("intact log: %d\n%s", code, out)
	}

	files, _ := audit.Files(filepath.Join(dataDir, "audit"))
	lines := strings.SplitAfter(string(must(os.ReadFile(files[len(files)-1]))), "\n")
	cut := 0
	for i, l := range lines[:len(lines)-3] {
		if strings.Contains(l, `"type":"checkpoint"`) && !strings.Contains(l, `"kind"`) {
			cut = i + 1 // just after a periodic checkpoint
		}
	}
	if cut == 0 {
		t.Fatalf("no periodic checkpoint to cut back to")
	}
	os.WriteFile(files[len(files)-1], []byte(strings.Join(lines[:cut], "")), 0o600)

	if code, out := verify(); code != 0 || !strings.Contains(out, "not closed") {
		t.Errorf("alone, a cut at a checkpoint looks like a crash and must say the log is not closed: %d\n%s", code, out)
	}
	if code, out := verify("--strict"); code == 0 || !strings.Contains(out, "not-closed") {
		t.Errorf("--strict accepted a log without its shutdown checkpoint: %d\n%s", code, out)
	}
	if code, out := verify("--syslog", syslogFile); code == 0 || !strings.Contains(out, "lines were cut from the end") {
		t.Errorf("--syslog did not reveal the truncation: %d\n%s", code, out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
