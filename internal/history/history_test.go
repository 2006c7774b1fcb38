package history

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHistoryPersistsBoundedAndFiltered: lines the filter accepts reach the file (0600) and
// come back at the next Open, most recent first; the others live only in memory; control
// characters are dropped; the file is compacted and the history bounded.
func TestHistoryPersistsBoundedAndFiltered(t *testing.T) {
	dir := Dir{Path: filepath.Join(t.TempDir(), "history"), Max: 5}
	h, err := dir.Open("acc-1")
	if err != nil || h.Len() != 0 {
		t.Fatalf("new history: %v, %d lines", err, h.Len())
	}
	h.Persist = func(l string) bool { return strings.HasPrefix(l, "cmd") }
	h.Add("cmd one")
	h.Add("secret typed here")
	h.Add("cmd \x1b[2Jtwo")
	h.Add("cmd \x1b[2Jtwo") // a repeat of the last line
	if h.Len() != 3 || h.At(0) != "cmd [2Jtwo" || h.At(1) != "secret typed here" {
		t.Fatalf("in memory: %d lines, %q %q", h.Len(), h.At(0), h.At(1))
	}
	fi, err := os.Stat(filepath.Join(dir.Path, "acc-1"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v %v", err, fi)
	}
	h2, _ := dir.Open("acc-1")
	if h2.Len() != 2 || h2.At(0) != "cmd [2Jtwo" || h2.At(1) != "cmd one" {
		t.Fatalf("reopened: %d lines", h2.Len())
	}
	h2.Persist = h.Persist
	for i := 0; i < 40; i++ {
		h2.Add(fmt.Sprintf("cmd %d", i))
	}
	data, _ := os.ReadFile(filepath.Join(dir.Path, "acc-1"))
	if n := strings.Count(string(data), "\n"); n > 2*dir.Max {
		t.Fatalf("the file holds %d lines, want at most %d", n, 2*dir.Max)
	}
	h3, _ := dir.Open("acc-1")
	if h3.Len() != dir.Max || h3.At(0) != "cmd 39" {
		t.Fatalf("bounded: %d lines, last %q", h3.Len(), h3.At(0))
	}
}

// TestHistoryIDsThatCannotNameAFile: an id that could escape the directory keeps the history
// in memory only.
func TestHistoryIDsThatCannotNameAFile(t *testing.T) {
	root := t.TempDir()
	dir := Dir{Path: filepath.Join(root, "history")}
	for _, id := range []string{"", "../x", "a/b", ".", "..", strings.Repeat("a", 200)} {
		h, err := dir.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		h.Persist = func(string) bool { return true }
		h.Add("cmd")
		if h.path != "" {
			t.Errorf("id %q persisted to %s", id, h.path)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "x")); err == nil {
		t.Fatal("a file escaped the directory")
	}
}

// FuzzHistory: whatever is typed, what comes back after a reopen is one line each, without
// control characters, never more than the bound.
func FuzzHistory(f *testing.F) {
	for _, s := range []string{"info", "a\nb", "\x1b[2J", "\r\n", "", strings.Repeat("x", 5000), "日本\u200b"} {
		f.Add(s, "accountInfo --account bob")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		dir := Dir{Path: t.TempDir(), Max: 3}
		h, _ := dir.Open("acc")
		h.Persist = func(string) bool { return true }
		for _, l := range []string{a, b, a, b} {
			h.Add(l)
		}
		h2, err := dir.Open("acc")
		if err != nil {
			t.Fatal(err)
		}
		if h2.Len() > dir.Max {
			t.Fatalf("%d lines kept, bound %d", h2.Len(), dir.Max)
		}
		for i := 0; i < h2.Len(); i++ {
			l := h2.At(i)
			if l == "" || strings.ContainsAny(l, "\n\r\x1b\x00") || len(l) > maxLine {
				t.Fatalf("line %q came back", l)
			}
		}
	})
}
