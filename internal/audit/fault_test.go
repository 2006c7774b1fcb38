package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fullDisk injects a full disk into the log's file writes: while failing is
// above zero, each write puts half its bytes in the file (as a write that
// runs out of room does) and returns ENOSPC, and creating a file fails.
type fullDisk struct {
	mu      sync.Mutex
	failing int // writes left to fail
	creates bool
}

func (d *fullDisk) set(n int) { d.mu.Lock(); d.failing = n; d.mu.Unlock() }

func (d *fullDisk) take() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failing > 0 {
		d.failing--
		return true
	}
	return false
}

func (d *fullDisk) open(name string, flag int, perm os.FileMode) (File, error) {
	if flag&os.O_CREATE != 0 && d.creates && d.take() {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, d: d}, nil
}

type faultyFile struct {
	*os.File
	d *fullDisk
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if f.d.take() {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

type healthEvents struct {
	mu                  sync.Mutex
	failures, recovered int
}

func (h *healthEvents) counts() (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures, h.recovered
}

func TestFullDiskThenSpaceBack(t *testing.T) {
	disk := &fullDisk{}
	var h healthEvents
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 5, OpenFile: disk.open, Logger: quiet,
		OnFailure: func(error) { h.mu.Lock(); h.failures++; h.mu.Unlock() },
		OnRecover: func(string) { h.mu.Lock(); h.recovered++; h.mu.Unlock() }})
	appendN(t, l, 3)

	disk.set(3) // the disk is full for the next three writes
	for i := 0; i < 3; i++ {
		err := l.Append(openEvent(100 + i))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Append %d on a full disk: %v", i, err)
		}
		if l.Healthy() == nil {
			t.Fatalf("healthy on a full disk")
		}
	}
	// Space is back: the next Append resumes the log by itself.
	if err := l.Append(openEvent(200)); err != nil {
		t.Fatalf("Append once space is back: %v", err)
	}
	if l.Healthy() != nil || l.Failures() != 3 {
		t.Errorf("healthy %v, failures %d, want nil and 3", l.Healthy(), l.Failures())
	}
	if f, r := h.counts(); f != 1 || r != 1 {
		t.Errorf("%d failure and %d recovery reports, want 1 and 1", f, r)
	}
	appendN(t, l, 7)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true})
	if err != nil || rep.Recoveries != 1 {
		t.Fatalf("log after a full disk: %v\n%s", err, rep)
	}
	// Each failed write left half a line; each was cut and recorded.
	if n := strings.Count(rep.String(), "an incomplete line of"); n != 3 {
		t.Errorf("%d cut lines recorded, want 3 (the event and two recover checkpoints):\n%s", n, rep)
	}
	if bytes.Contains(mustRead(t, dir), []byte(`"uniqid":"000000000064"`)) {
		t.Errorf("the refused event 100 is in the log as if it had been recorded")
	}
}

func TestBackgroundRetryResumesWithoutAppends(t *testing.T) {
	disk := &fullDisk{}
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 5, OpenFile: disk.open, Logger: quiet})
	defer l.Close()
	tick := make(chan time.Time)
	ctx := t.Context()
	go l.RetryEach(ctx, tick)

	disk.set(1 << 30)
	if err := l.Append(openEvent(1)); err == nil {
		t.Fatal("Append on a full disk succeeded")
	}
	tick <- time.Now() // a retry while the disk is still full fails
	tick <- time.Now()
	if l.Healthy() == nil {
		t.Fatal("healthy while the disk is full")
	}
	disk.set(0)
	tick <- time.Now()
	tick <- time.Now() // the second send returns once the first retry is done
	if err := l.Healthy(); err != nil {
		t.Fatalf("not healthy after a retry with space back: %v", err)
	}
}

func TestFullDiskAtRotation(t *testing.T) {
	disk := &fullDisk{creates: true}
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 3, MaxFileBytes: 1500, OpenFile: disk.open, Logger: quiet})
	appendN(t, l, 4) // the first file is full and closed after this
	disk.set(2)      // creating the next file fails, then the first write to it
	for i := 0; i < 2; i++ {
		if err := l.Append(openEvent(50)); err == nil {
			t.Fatalf("Append %d succeeded on a full disk", i)
		}
	}
	appendN(t, l, 6)
	l.Close()
	files, _ := Files(dir)
	if rep, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true}); err != nil || len(files) < 2 {
		t.Fatalf("%d files: %v\n%s", len(files), err, rep)
	}
}

// TestFileCutWhileRunning: someone cuts the file under a running log. The
// next checkpoint notices, the log refuses events until a person looks (no
// automatic recovery from that), and verify names the gap.
func TestFileCutWhileRunning(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 5, Logger: quiet})
	appendN(t, l, 9)
	path := onlyFile(t, dir)
	lines := readLines(t, path)
	writeLines(t, path, lines[:7]) // back to the first periodic checkpoint
	var err error
	for i := 0; i < 6 && err == nil; i++ {
		err = l.Append(openEvent(i))
	}
	if err == nil || !strings.Contains(err.Error(), "changed by something else") {
		t.Fatalf("the cut was not noticed: %v", err)
	}
	if l.Retry() == nil || l.Healthy() == nil {
		t.Error("the log recovered by itself from a cut file")
	}
	l.Close()
	rep, err := VerifyFiles([]string{dir}, pubOf(testKey(1)))
	if !errors.Is(err, ErrBroken) || rep.Problem.Kind != ProblemDeleted {
		t.Errorf("verify after a cut under a running log: %v\n%s", err, rep)
	}
}

func onlyFile(t *testing.T, dir string) string {
	t.Helper()
	files, err := Files(dir)
	if err != nil || len(files) != 1 {
		t.Fatalf("files %v: %v", files, err)
	}
	return files[0]
}

func mustRead(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	files, _ := Files(dir)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

// TestPlantedNextFileIsNotBuried: a file someone put where the next rotated file goes is not
// appended to (that would bury what it holds in the chain); the log fails until it is moved.
func TestPlantedNextFileIsNotBuried(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 3, MaxFileBytes: 1500, Logger: quiet})
	for { // until a file is full and closed
		appendN(t, l, 1)
		l.mu.Lock()
		rotated := l.f == nil
		l.mu.Unlock()
		if rotated {
			break
		}
	}
	next := filepath.Join(dir, fileName(l.seq+1))
	os.WriteFile(next, []byte("planted\n"), 0o600)
	if err := l.Append(openEvent(1)); err == nil || !strings.Contains(err.Error(), "move it aside") {
		t.Fatalf("Append with a planted next file: %v", err)
	}
	os.Rename(next, next+".planted")
	appendN(t, l, 3)
	l.Close()
	if rep, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true}); err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
}
