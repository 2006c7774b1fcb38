package record

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// stallFile writes its first write, then tells stalled and waits for release; every write
// after it fails with ENOSPC (a full disk), as a second process's copy that dies half way.
type stallFile struct {
	f                *os.File
	n                int
	stalled, release chan struct{}
}

func (w *stallFile) Write(p []byte) (int, error) {
	w.n++
	switch w.n {
	case 1:
		return w.f.Write(p)
	case 2:
		close(w.stalled)
		<-w.release
	}
	return 0, &os.PathError{Op: "write", Path: w.f.Name(), Err: syscall.ENOSPC}
}

func (w *stallFile) Close() error { return w.f.Close() }

// TestCompactTwoProcessesShareTheQueue: two gatehouse processes on one DATA_DIR load the same
// marker. Without a lock the second removed the first's copy and wrote its own at the same
// name; the first then renamed that half-written copy over the recording (the original lost,
// the path a torn file). The queue's lock lets one compactor work at a time: the other's pass
// waits for the next try and touches nothing; the recording reads the same events after.
func TestCompactTwoProcessesShareTheQueue(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "s.ghrec", d, log)
	want := eventsOfFile(t, path)
	a, resA := testCompactor(t, dir, d)
	mustQueue(t, a, "0123456789abcdef01234567", path, sum, size, deferred)
	b, resB := testCompactor(t, dir, &Deferral{Budget: 1 << 40}) // the other process: loads the marker
	if !b.Held(path) {
		t.Fatal("the second process did not load the marker")
	}
	atCopied, goOn := make(chan struct{}), make(chan struct{})
	a.crash = func(step string) {
		if step == "copied" {
			close(atCopied)
			<-goOn
		}
	}
	stalled, release := make(chan struct{}), make(chan struct{})
	b.create = func(p string) (io.WriteCloser, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return &stallFile{f: f, stalled: stalled, release: release}, err
	}
	aDone := make(chan error, 1)
	go func() { aDone <- a.Pass(context.Background()) }()
	<-atCopied // a has its whole copy, checked nothing yet
	bDone := make(chan error, 1)
	go func() { bDone <- b.Pass(context.Background()) }()
	var bErr error
	select {
	case <-stalled: // b got in (no lock): its copy is half written
		close(goOn)
		aErr := <-aDone
		close(release)
		bErr = <-bDone
		t.Logf("a: %v, b: %v", aErr, bErr)
	case bErr = <-bDone: // b was kept out
		close(goOn)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(bErr, ErrQueueBusy) {
			t.Fatalf("the second pass: %v", bErr)
		}
	}
	got, gotErr := readEvents(path)
	if gotErr != nil {
		t.Fatalf("the recording does not read whole after two compactors: %v (%d events of %d)", gotErr, len(got), len(want))
	}
	sameEvents(t, "compacted by one of two processes", got, want)
	if len(*resA) != 1 || (*resA)[0].Outcome != Compacted || len(*resB) != 0 {
		t.Fatalf("results: a %+v, b %+v", *resA, *resB)
	}
	if s, _ := sumOf(t, path); s != (*resA)[0].Job.NewSHA256 {
		t.Fatal("the file is not the one chained")
	}
	// The second process's next pass: the marker is gone, the job is dropped, nothing done.
	b.create = nil
	if err := b.Pass(context.Background()); err != nil || b.Held(path) || len(*resB) != 0 {
		t.Fatalf("b's next pass: %v, held %v, results %+v", err, b.Held(path), *resB)
	}
}

// readEvents reads every event of the recording at path, and the error that stopped it.
func readEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		return nil, err
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// TestCompactSwapBeforeRename: a recording swapped for a forged one (renamed over it) after the
// compactor opened it, before its rename: the compactor hashed and rewrote the bytes of the
// file it opened (one descriptor, read once, hash and copy from the same bytes), and its rename
// replaces whatever is at the path. So the path ends holding the compaction of exactly the
// audited bytes, never the forgery nor a compaction of it; a swap after the rename is a change
// of the compacted file, which its new hash (the row's) shows.
func TestCompactSwapBeforeRename(t *testing.T) {
	for _, step := range []string{"copied", "synced", "noted"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			d := bigBudget()
			log, _, _, _ := compactData()
			path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "w.ghrec", d, log)
			want := eventsOfFile(t, path)
			forged, _, _, _ := compactRec(t, filepath.Join(dir, "forge"), "f.ghrec", bigBudget(), []byte("nothing to see here\r\n"))
			c, results := testCompactor(t, dir, d)
			mustQueue(t, c, "0123456789abcdef01234567", path, sum, size, deferred)
			c.crash = func(s string) {
				if s == step {
					if err := os.Rename(forged, path); err != nil {
						t.Error(err)
					}
				}
			}
			if err := c.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(*results) != 1 || (*results)[0].Outcome != Compacted {
				t.Fatalf("%+v", *results)
			}
			sameEvents(t, "after a swap at "+step, eventsOfFile(t, path), want)
			if s, _ := sumOf(t, path); s != (*results)[0].Job.NewSHA256 {
				t.Fatal("the file is not the one chained")
			}
		})
	}
}
