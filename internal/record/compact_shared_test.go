package record

import (
	"context"
	"encoding/json"
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

// TestCompactMarkerEditedByHand: a marker naming a file outside the recordings' directory, or a
// file that is not a gatehouse recording (an attacker pointing the compactor, and then the
// archive, at /etc/shadow with its right hash), is not loaded, not queued, never compacted nor
// handed to Next; a marker changed after it was queued to name another file fails its try.
func TestCompactMarkerEditedByHand(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "rec")
	log, _, _, _ := compactData()
	path, sum, size, _ := compactRec(t, filepath.Join(root, "alice"), "a.ghrec", bigBudget(), log)
	outside, osum, osize, _ := compactRec(t, filepath.Join(dir, "elsewhere"), "b.ghrec", bigBudget(), log)
	secret := filepath.Join(root, "alice", "secret.txt")
	if err := os.WriteFile(secret, []byte("root:x:0:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ssum, ssize := sumOf(t, secret)
	queue := filepath.Join(dir, "queue")
	if err := os.MkdirAll(queue, 0o700); err != nil {
		t.Fatal(err)
	}
	marker := func(id, p, sum string, size int64) {
		b, _ := json.Marshal(CompactJob{ID: id, Path: p, SHA256: sum, Size: size})
		if err := os.WriteFile(filepath.Join(queue, id+markerExt), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	marker("aaaaaaaaaaaaaaaaaaaaaaa1", outside, osum, osize)
	marker("aaaaaaaaaaaaaaaaaaaaaaa2", secret, ssum, ssize)
	marker("aaaaaaaaaaaaaaaaaaaaaaa3", filepath.Join(root, "..", "elsewhere", "b.ghrec"), osum, osize)
	var told []string
	c := &Compactor{Queue: queue, Root: root, Done: func(context.Context, CompactResult) error { return nil },
		Next: func(p, _ string, _ int64) { told = append(told, p) }}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	if c.Held(outside) || c.Held(secret) {
		t.Fatal("a marker naming a file outside the recordings was loaded")
	}
	if err := c.Enqueue(CompactJob{ID: "aaaaaaaaaaaaaaaaaaaaaaa4", Path: outside, SHA256: osum, Size: osize}); err == nil {
		t.Fatal("a file outside the recordings was queued")
	}
	if err := c.Pass(context.Background()); err != nil || len(told) != 0 {
		t.Fatalf("pass: %v, Next told of %v", err, told)
	}
	if s, _ := sumOf(t, outside); s != osum {
		t.Fatal("a file outside the recordings was compacted")
	}
	// A queued job whose marker is then edited to name another recording (below the root).
	other, otherSum, otherSize, _ := compactRec(t, filepath.Join(root, "bob"), "c.ghrec", bigBudget(), log)
	mustQueue(t, c, "bbbbbbbbbbbbbbbbbbbbbbbb", path, sum, size, 0)
	marker("bbbbbbbbbbbbbbbbbbbbbbbb", other, otherSum, otherSize)
	if err := c.Pass(context.Background()); err == nil || len(told) != 0 {
		t.Fatalf("a marker edited after it was queued: %v, Next told of %v", err, told)
	}
	if s, _ := sumOf(t, other); s != otherSum {
		t.Fatal("the edited marker's file was compacted")
	}
	if !c.Held(path) {
		t.Fatal("the queued recording is no longer held")
	}
}
