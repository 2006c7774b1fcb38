package record

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestCompactReleasedAfterFailedTries: a recording whose compaction cannot be recorded (the
// store away) stays queued, but after releaseAfter failed tries the archive is no longer made
// to wait: Next is told of it once, as it is; once the outcome is recorded, Next is told of the
// compacted file. A shutdown (ctx ended) counts as no failure.
func TestCompactReleasedAfterFailedTries(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "r.ghrec", d, log)
	storeAway := true
	var told []string
	c := &Compactor{Queue: filepath.Join(dir, "queue"), Defer: d,
		Done: func(context.Context, CompactResult) error {
			if storeAway {
				return errors.New("database away")
			}
			return nil
		},
		Next: func(p, sum string, _ int64) { told = append(told, sum) }}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	mustQueue(t, c, "0123456789abcdef01234567", path, sum, size, deferred)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	c.failed(ended, c.held[path], errors.New("child killed at shutdown"))
	for try := 1; try <= releaseAfter; try++ {
		if err := c.Pass(context.Background()); err == nil {
			t.Fatal("a pass with the store away succeeded")
		}
		if want := try < releaseAfter; c.Withheld(path) != want || !c.Held(path) {
			t.Fatalf("try %d: withheld %v, queued %v", try, c.Withheld(path), c.Held(path))
		}
	}
	if len(told) != 1 || told[0] != "" {
		t.Fatalf("Next told %q", told)
	}
	storeAway = false
	if err := c.Pass(context.Background()); err != nil || c.Held(path) {
		t.Fatalf("%v, queued %v", err, c.Held(path))
	}
	if now, _ := sumOf(t, path); len(told) != 2 || told[1] != now || now == sum {
		t.Fatalf("Next told %q; the file has %s", told, now)
	}
}
