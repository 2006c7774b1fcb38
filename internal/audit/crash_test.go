package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A kill -9 can stop gatehouse between any two bytes it writes: in the
// middle of a line, after the interval-th unsigned line and before its
// checkpoint, in the middle of the checkpoint. These tests make each of
// those ends deterministically, by cutting a log at every byte offset around
// a checkpoint and around ordinary lines, and check that the cut log
// verifies (with a note, not "tampered"), that a restart resumes it (with
// the same, a smaller or a larger checkpoint interval), and that the
// resumed log, once closed, verifies strictly.

// crashLog writes a log with a checkpoint every 4 lines and no Close (the
// process died), and returns its one file's bytes and the line offsets.
func crashLog(t *testing.T) ([]byte, []int) {
	t.Helper()
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 4})
	appendN(t, l, 13)
	l.closeFile()
	data, err := os.ReadFile(filepath.Join(dir, fileName(1)))
	if err != nil {
		t.Fatal(err)
	}
	offsets := []int{0}
	for i, b := range data {
		if b == '\n' {
			offsets = append(offsets, i+1)
		}
	}
	return data, offsets
}

func TestCutAtEveryOffsetThenResume(t *testing.T) {
	data, offsets := crashLog(t)
	// Lines (1-based): 1 start, 2 audit.start, 3-5 events, 6 checkpoint,
	// 7-10 events, 11 checkpoint, 12-15 events, 16 checkpoint. Cut from the
	// start of line 9 (two events before a checkpoint) to the end of line
	// 12 (the event after it): that covers the interval-th unsigned line
	// (line 10) with its checkpoint not yet written, every offset inside the
	// checkpoint, and ordinary lines on both sides.
	lines := strings.SplitAfter(string(data), "\n")
	if r, _ := parseRecord([]byte(lines[10])); r.Type != TypeCheckpoint {
		t.Fatalf("layout changed: line 11 is %s", r.Type)
	}
	from, to := offsets[8], offsets[12]
	pub := pubOf(testKey(1))
	base := t.TempDir()
	for cutAt := from; cutAt <= to; cutAt++ {
		// The restart keeps the interval, or lowers it, or raises it, in turn.
		for _, every := range []int{[]int{4, 2, 9}[cutAt%3]} {
			dir := filepath.Join(base, "audit")
			os.RemoveAll(dir)
			os.Mkdir(dir, 0o700)
			path := filepath.Join(dir, fileName(1))
			if err := os.WriteFile(path, data[:cutAt], 0o600); err != nil {
				t.Fatal(err)
			}
			partial := data[offsetBefore(offsets, cutAt):cutAt]

			// The crashed log verifies, with a note; strict mode refuses it.
			rep, err := VerifyFiles([]string{dir}, pub)
			if err != nil || rep.Closed || len(rep.Notes) == 0 {
				t.Fatalf("cut at %d: the crashed log does not verify: %v\n%s", cutAt, err, rep)
			}
			if rep.CutTail != int64(len(partial)) {
				t.Fatalf("cut at %d: incomplete tail %d bytes, want %d", cutAt, rep.CutTail, len(partial))
			}
			if _, err := Verify([]string{dir}, pub, VerifyOptions{Strict: true}); err == nil {
				t.Fatalf("cut at %d: strict mode accepted a log that was not closed", cutAt)
			}

			// A restart resumes it, appends, and closes it.
			l, err := Open(Options{Dir: dir, Key: testKey(1), CheckpointEvery: every, Logger: quiet, OpenFile: openNoSync})
			if err != nil {
				t.Fatalf("cut at %d, interval %d: restart refused: %v", cutAt, every, err)
			}
			appendN(t, l, 11)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err = Verify([]string{dir}, pub, VerifyOptions{Strict: true})
			if err != nil || !rep.Closed || rep.Starts != 2 {
				t.Fatalf("cut at %d, interval %d: resumed log: %v\n%s", cutAt, every, err, rep)
			}
			if len(partial) > 0 {
				sum := sha256.Sum256(partial)
				h := hex.EncodeToString(sum[:])
				if !strings.Contains(rep.String(), h) {
					t.Fatalf("cut at %d: the report does not name the cut bytes (sha256 %s):\n%s", cutAt, h, rep)
				}
				saved, err := os.ReadFile(filepath.Join(dir, "cut-"+pad20(seqAt(data[:offsetBefore(offsets, cutAt)])+1)+"-"+h[:16]+".bin"))
				if err != nil || !bytes.Equal(saved, partial) {
					t.Fatalf("cut at %d: the incomplete line was not saved aside: %v", cutAt, err)
				}
			}
		}
	}
}

// TestCrashAfterIntervalThenSmallerInterval is the case that failed
// intermittently: the interval-th unsigned line written, the process killed
// before its checkpoint, and gatehouse restarted with a smaller interval.
func TestCrashAfterIntervalThenSmallerInterval(t *testing.T) {
	data, offsets := crashLog(t)
	dir := logDir(t)
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, fileName(1)), data[:offsets[10]], 0o600) // lines 7-10 unsigned, no checkpoint
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 1})
	appendN(t, l, 2)
	l.Close()
	for _, strict := range []bool{false, true} {
		if rep, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: strict}); err != nil {
			t.Fatalf("strict %v: %v\n%s", strict, err, rep)
		}
	}
}

func offsetBefore(offsets []int, at int) int {
	o := 0
	for _, x := range offsets {
		if x <= at {
			o = x
		}
	}
	return o
}

// seqAt returns the seq of the last complete line of data (0 for none).
func seqAt(data []byte) uint64 {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	r, err := parseRecord([]byte(lines[len(lines)-1]))
	if err != nil {
		return 0
	}
	return r.Seq
}

func pad20(n uint64) string { return strings.TrimPrefix(fileName(n), "audit-")[:20] }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// noSyncFile skips fsync: what a power loss would lose does not matter to
// these tests, and a thousand restarts with fsync take most of a minute.
type noSyncFile struct{ *os.File }

func (noSyncFile) Sync() error { return nil }

func openNoSync(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}
