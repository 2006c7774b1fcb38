package archive

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"gatehouse/internal/audit"
)

// TestAdmit is the disk budget decision over its inputs: refused when the backlog reaches the
// budget or the free space is below the floor; an unknown free space (-1) alone refuses nothing.
func TestAdmit(t *testing.T) {
	for _, tc := range []struct {
		backlog, maxBacklog, free, minFree int64
		refused                            bool
	}{
		{0, 100, 1000, 10, false},
		{99, 100, 1000, 10, false},
		{100, 100, 1000, 10, true},
		{500, 100, 1000, 10, true},
		{0, 100, 9, 10, true},
		{0, 100, 10, 10, false},
		{0, 100, -1, 10, false},
		{100, 100, -1, 10, true},
		{1 << 40, 0, 1000, 10, false}, // no backlog budget
		{0, 0, 0, 0, false},           // no floor
		{200, 100, 5, 10, true},
	} {
		err := Admit(tc.backlog, tc.maxBacklog, tc.free, tc.minFree)
		if (err != nil) != tc.refused {
			t.Errorf("Admit(%d, %d, %d, %d) = %v, want refused=%v", tc.backlog, tc.maxBacklog, tc.free, tc.minFree, err, tc.refused)
		}
		if be, ok := err.(*BudgetError); ok && be.UserMessage() == "" {
			t.Error("a refusal without a message for the user")
		}
	}
}

// TestSignedPrefix: the shippable part of the current audit file ends at its last checkpoint.
func TestSignedPrefix(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	l, err := audit.Open(audit.Options{Dir: filepath.Join(dir, "a"), Key: key, CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := l.Append(audit.Event{Type: "x.y"}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := audit.Files(filepath.Join(dir, "a"))
	n, err := audit.SignedPrefix(files[0])
	data, _ := os.ReadFile(files[0])
	if err != nil || n <= 0 || n >= int64(len(data)) || data[n-1] != '\n' || !bytes.Contains(data[:n][bytes.LastIndexByte(data[:n-1], '\n')+1:], []byte(`"type":"checkpoint"`)) {
		t.Fatalf("signed prefix %d of %d: %v", n, len(data), err)
	}
	l.Close()
	if n, _ := audit.SignedPrefix(files[0]); n != fileSize(t, files[0]) {
		t.Fatalf("a closed file is signed whole: %d", n)
	}
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// FuzzSignedPrefix: whatever a file holds, the prefix ends at a line end within the file.
func FuzzSignedPrefix(f *testing.F) {
	f.Add([]byte(`{"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":"t","type":"checkpoint","checkpoint":{}}` + "\n"))
	f.Add([]byte("garbage\n{\"seq\":1}\npartial"))
	f.Add([]byte(""))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "audit-00000000000000000001.jsonl")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n, _ := audit.SignedPrefix(p)
		if n < 0 || n > int64(len(data)) || (n > 0 && data[n-1] != '\n') {
			t.Fatalf("prefix %d of %d bytes", n, len(data))
		}
	})
}
