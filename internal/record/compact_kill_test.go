package record

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// killWriter is a compaction's copy that kills its own process (SIGKILL) once limit bytes are
// written: a kill -9 in the middle of the copy.
type killWriter struct {
	f     *os.File
	limit int
}

func (w *killWriter) Write(p []byte) (int, error) {
	if len(p) >= w.limit {
		_, _ = w.f.Write(p[:w.limit])
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends the process
	}
	w.limit -= len(p)
	return w.f.Write(p)
}

func (w *killWriter) Close() error { return w.f.Close() }

// TestCompactChildProcess is the child of TestCompactKill9: with GH_COMPACT_QUEUE set it
// compacts that queue and kills itself with SIGKILL at step GH_COMPACT_KILL_AT. Without it (the
// normal test run) it does nothing.
func TestCompactChildProcess(t *testing.T) {
	queue, at := os.Getenv("GH_COMPACT_QUEUE"), os.Getenv("GH_COMPACT_KILL_AT")
	if queue == "" {
		return
	}
	c := &Compactor{Queue: queue, Done: func(context.Context, CompactResult) error { return nil }}
	kill := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	c.crash = func(step string) {
		if step == at {
			kill()
		}
	}
	if at == "writing" {
		c.create = func(p string) (io.WriteCloser, error) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			return &killWriter{f: f, limit: 700 << 10}, err
		}
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("not killed at %q", at)
}

// TestCompactKill9: a compaction killed with SIGKILL at every step (in the middle of the copy,
// after it, after its fsync, after the marker notes its hash, after the rename, after Done)
// leaves a whole recording at the path (the original or the compacted copy, nothing else); the
// next start removes the leftover copy and finishes: the file is compacted, replays the same
// events, and Done hears the hash now on disk.
func TestCompactKill9(t *testing.T) {
	log, _, random, _ := compactData()
	for _, at := range []string{"writing", "copied", "synced", "noted", "renamed", "recorded"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			d := bigBudget()
			path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "k.ghrec", d, log, random, log)
			want := eventsOfFile(t, path)
			c, _ := testCompactor(t, dir, d)
			mustQueue(t, c, "5555666677778888aaaabbbb", path, sum, size, deferred)

			cmd := exec.Command(os.Args[0], "-test.run", "^TestCompactChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "GH_COMPACT_QUEUE="+c.Queue, "GH_COMPACT_KILL_AT="+at)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed: %v\n%s", err, out)
			}
			if _, err := os.Stat(tempPath(path)); (at != "renamed" && at != "recorded") != (err == nil) {
				t.Fatalf("killed at %s: temporary copy %v", at, err)
			}
			// Whatever the instant: a whole recording at the path, the same events.
			sameEvents(t, "after the kill", eventsOfFile(t, path), want)
			got, _ := sumOf(t, path)
			job, err := readMarker(filepath.Join(c.Queue, "5555666677778888aaaabbbb.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got != sum && got != job.NewSHA256 {
				t.Fatalf("the file's sha256 %s is neither the audited one nor the noted copy's", got)
			}
			// The next start finishes.
			c2, results := testCompactor(t, dir, bigBudget())
			if err := c2.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(*results) != 1 || (*results)[0].Outcome != Compacted {
				t.Fatalf("results after the restart: %+v", *results)
			}
			newSum, newSize := sumOf(t, path)
			if r := (*results)[0].Job; r.NewSHA256 != newSum || r.NewSize != newSize || newSize >= size || r.SHA256 != sum {
				t.Fatalf("result %+v; the file has %s, %d bytes (was %d)", r, newSum, newSize, size)
			}
			sameEvents(t, "compacted after the restart", eventsOfFile(t, path), want)
			if _, err := os.Stat(tempPath(path)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary copy left: %v", err)
			}
			if ents, _ := os.ReadDir(c.Queue); len(ents) != 0 || c2.Held(path) {
				t.Fatalf("queue left with %d files", len(ents))
			}
		})
	}
}

// FuzzCompactRewrite: the compactor's reading of a file on disk (which anyone with access to the
// disk may have changed) never panics; a file it rewrites whole reads back to the same events
// as the original, up to the same end.
func FuzzCompactRewrite(f *testing.F) {
	text := bytes.Repeat([]byte("Dec  2 18:00:00 web-01 app[42]: level=info msg=done\n"), 200)
	file, _, _ := ghRecord(f, []ghStep{{out: []byte("hello\r\n")}, {cols: 100, rows: 30}, {flush: true}, {out: text}, {in: []byte("x")}}, true)
	f.Add(file)
	old, _ := asZstdChunks(f, file)
	f.Add(old)
	f.Add([]byte(ghMagic + "\x05\x00\x00\x80\x01\x00\x00\x00h\x00\x00\x00\x00"))
	f.Add([]byte(ghMagic + "\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		rerr, err := rewrite(&out, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("write error into memory: %v", err)
		}
		if rerr != nil {
			return
		}
		_, want := readAllQuiet(data)
		_, got := readAllQuiet(out.Bytes())
		if len(got) != len(want) {
			t.Fatalf("%d events after the rewrite, %d before", len(got), len(want))
		}
		for i := range want {
			if got[i].Kind != want[i].Kind || got[i].Time != want[i].Time || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Fatalf("event %d differs after the rewrite", i)
			}
		}
	})
}
