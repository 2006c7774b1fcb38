package record

import (
	"bytes"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// holdsOpen reports whether this process has path open.
func holdsOpen(t *testing.T, path string) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd") // Linux, where CI runs the tests
	if err != nil {
		t.Fatalf("cannot list this process's descriptors: %v", err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An idle recording holds no descriptor: its file is closed after each timed flush and
// reopened by the next output (a bastion's 10,000 idle sessions would otherwise need a third
// descriptor each). Every event reaches the file, and the audit's hash is the file's.
func TestIdleRecordingHoldsNoDescriptor(t *testing.T) {
	for _, format := range []Format{Gatehouse, Asciicast, Ttyrec} {
		dir := filepath.Join(t.TempDir(), "r")
		rec, path, err := Create(dir, "x."+format.Ext(), Options{Format: format, FlushInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the new recording's file to rest", func() bool { return !holdsOpen(t, path) })
		for _, out := range []string{"first$ ", "second ✓\r\n", "third"} {
			rec.Output([]byte(out))
			data := func() []byte { b, _ := os.ReadFile(path); return b }
			waitFor(t, "the output on disk", func() bool {
				_, evs := readAllQuiet(data())
				return bytes.HasSuffix(outputOf(evs, KindOutput), []byte(out))
			})
			waitFor(t, "the file to rest after the flush", func() bool { return !holdsOpen(t, path) })
		}
		sum, n, err := rec.Close()
		if err != nil {
			t.Fatalf("%v: Close: %v", format, err)
		}
		data, _ := os.ReadFile(path)
		h := sha256.Sum256(data)
		if sum != hex.EncodeToString(h[:]) || n != int64(len(data)) {
			t.Fatalf("%v: Close gave %s (%d bytes), the file is %x (%d bytes)", format, sum, n, h, len(data))
		}
		_, evs := readAll(t, bytes.NewReader(data))
		if got := string(outputOf(evs, KindOutput)); got != "first$ second ✓\r\nthird" {
			t.Fatalf("%v: recorded %q", format, got)
		}
		if holdsOpen(t, path) {
			t.Fatalf("%v: the file is still open after Close", format)
		}
	}
}

// A recording whose file was replaced while it rested (renamed over, a link put in its place,
// removed) fails as on a full disk (a sticky write error, Close reports it): nothing is written
// to the other file: not by a terminal's few bytes (the page cache's descriptor), nor by bulk
// output (the direct-I/O descriptor).
func TestRestingRecordingReplacedFails(t *testing.T) {
	bulk := make([]byte, 2<<20)
	crand.Read(bulk)
	for _, c := range []struct {
		how   string
		after []byte
	}{{"renamed over", []byte("after")}, {"symlink", []byte("after")}, {"removed", []byte("after")},
		{"renamed over", bulk}, {"symlink", bulk}, {"removed", bulk}} {
		how := c.how
		dir := filepath.Join(t.TempDir(), "r")
		rec, path, err := Create(dir, "x.ghrec", Options{Format: Gatehouse, FlushInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rec.Output([]byte("before"))
		waitFor(t, "the file to rest", func() bool { return !holdsOpen(t, path) })
		other := filepath.Join(t.TempDir(), "other")
		if err := os.WriteFile(other, []byte("someone else's"), 0o600); err != nil {
			t.Fatal(err)
		}
		switch how {
		case "renamed over":
			err = os.Rename(other, path)
		case "symlink":
			if err = os.Remove(path); err == nil {
				err = os.Symlink(other, path)
			}
		case "removed":
			err = os.Remove(path)
		}
		if err != nil {
			t.Fatal(err)
		}
		for p := c.after; len(p) > 0; p = p[min(len(p), 32<<10):] {
			rec.Output(p[:min(len(p), 32<<10)])
		}
		waitFor(t, "the recording's error", func() bool { return rec.Err() != nil })
		if _, _, err := rec.Close(); err == nil {
			t.Fatalf("%s: Close gave no error", how)
		}
		if b, err := os.ReadFile(other); err == nil && string(b) != "someone else's" {
			t.Fatalf("%s: the other file was written: %q", how, b)
		}
	}
}

// readAllQuiet reads the events of a recording being written, up to the first error.
func readAllQuiet(data []byte) (*Reader, []Event) {
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err != nil {
			return rd, evs
		}
		evs = append(evs, ev)
	}
}
