package record

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCompactChildMain is the compaction child of the tests below (the test binary re-run, as
// gatehouse re-runs itself): with GH_COMPACT_CHILD=1 it serves one request and exits. Hooks:
// GH_COMPACT_HANG_AT=step writes "hang STEP PID" on stderr there and hangs ("writing": in the
// middle of the copy); GH_COMPACT_PANIC_AT=step panics there; GH_COMPACT_FULL=1 fills the disk
// in the middle of the copy. Without GH_COMPACT_CHILD (the normal run) it does nothing.
func TestCompactChildMain(t *testing.T) {
	if os.Getenv("GH_COMPACT_CHILD") != "1" {
		return
	}
	hang, panicAt := os.Getenv("GH_COMPACT_HANG_AT"), os.Getenv("GH_COMPACT_PANIC_AT")
	stop := func(step string) {
		fmt.Fprintf(os.Stderr, "hang %s %d\n", step, os.Getpid())
		time.Sleep(time.Hour) // killed by the parent; never the normal path
	}
	c := &Compactor{}
	c.crash = func(step string) {
		if step == hang {
			stop(step)
		}
		if step == panicAt {
			panic("injected at " + step)
		}
	}
	c.create = func(p string) (io.WriteCloser, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err != nil:
			return nil, err
		case os.Getenv("GH_COMPACT_FULL") == "1":
			return &fullDiskFile{f: f, limit: 300 << 10}, nil
		case hang == "writing":
			return &hangWriter{f: f, limit: 700 << 10, hang: func() { stop("writing") }}, nil
		}
		return f, nil
	}
	os.Exit(compactChild(os.Stdin, os.Stdout, os.Stderr, c, idleProcess))
}

// hangWriter hangs once limit bytes of the copy are written.
type hangWriter struct {
	f     *os.File
	limit int
	hang  func()
}

func (w *hangWriter) Write(p []byte) (int, error) {
	if len(p) >= w.limit {
		_, _ = w.f.Write(p[:w.limit])
		w.hang()
	}
	w.limit -= len(p)
	return w.f.Write(p)
}

func (w *hangWriter) Close() error { return w.f.Close() }

// testChild is the test binary as the compaction child, with the hooks in env.
func testChild(stderr io.Writer, env ...string) *ChildWorker {
	return &ChildWorker{Path: os.Args[0], Args: []string{"-test.run=^TestCompactChildMain$", "-test.count=1"},
		Env: append(append(os.Environ(), "GH_COMPACT_CHILD=1"), env...), Stderr: stderr}
}

// hangWatch is a child's stderr: on its "hang STEP PID" line it calls onHang with the pid.
type hangWatch struct {
	mu     sync.Mutex
	line   []byte
	onHang func(pid int)
}

func (w *hangWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		f := strings.Fields(string(w.line[:i]))
		w.line = w.line[i+1:]
		if len(f) == 3 && f[0] == "hang" {
			pid, _ := strconv.Atoi(f[2])
			w.onHang(pid)
		}
	}
}

// threadPolicies is the scheduling policy of each thread of process pid (called from the
// child's stderr copier: errors are reported with Errorf, not Fatal).
func threadPolicies(t *testing.T, pid int) map[int]uint32 {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Errorf("the child's threads: %v", err)
	}
	got := map[int]uint32{}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Errorf("thread %d: %v", tid, err)
			continue
		}
		got[tid] = a.Policy
		// The idle I/O class too: its bits ride on the policy's (a thread without it reads
		// as another policy in the check).
		if prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0); errno == 0 && prio>>13 != 3 {
			got[tid] |= 1 << 16
		}
	}
	return got
}

// childJob is a recording with text to compact, queued in dir.
func childJob(t *testing.T, dir string) (c *Compactor, results *[]CompactResult, path, sum string, want []Event) {
	t.Helper()
	d := bigBudget()
	log, _, random, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "c.ghrec", d, log, random, log)
	c, results = testCompactor(t, dir, d)
	mustQueue(t, c, "1111222233334444aaaabbbb", path, sum, size, deferred)
	return c, results, path, sum, eventsOfFile(t, path)
}

// finishes: a pass by a healthy child compacts the queued file: same events, Done hears the
// hash now on disk, nothing is left behind.
func finishes(t *testing.T, c *Compactor, results *[]CompactResult, path string, want []Event) {
	t.Helper()
	c.Worker = testChild(nil)
	*results = nil
	if err := c.Pass(context.Background()); err != nil || len(*results) != 1 || (*results)[0].Outcome != Compacted {
		t.Fatalf("pass by a healthy child: %v %+v", err, *results)
	}
	sum, size := sumOf(t, path)
	if r := (*results)[0].Job; r.NewSHA256 != sum || r.NewSize != size {
		t.Fatalf("Done heard %s (%d), the file has %s (%d)", r.NewSHA256, r.NewSize, sum, size)
	}
	sameEvents(t, "compacted by the child", eventsOfFile(t, path), want)
	if _, err := os.Stat(tempPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary copy left: %v", err)
	}
	if ents, _ := os.ReadDir(c.Queue); len(ents) != 0 || c.Held(path) {
		t.Fatalf("queue left with %d files", len(ents))
	}
}

// TestCompactChild: the child compacts a queued recording, and refuses one whose hash is not the
// audited one (kept byte for byte, Done hears the hash found).
func TestCompactChild(t *testing.T) {
	dir := t.TempDir()
	c, results, path, _, want := childJob(t, dir)
	finishes(t, c, results, path, want)

	d := bigBudget()
	log, _, _, _ := compactData()
	p2, sum2, size2, def2 := compactRec(t, filepath.Join(dir, "rec"), "t.ghrec", d, log)
	orig, _ := os.ReadFile(p2)
	bogus := strings.Repeat("ab", 32)
	mustQueue(t, c, "2222333344445555aaaabbbb", p2, bogus, size2, def2)
	*results = nil
	if err := c.Pass(context.Background()); err != nil || len(*results) != 1 {
		t.Fatalf("pass: %v %+v", err, *results)
	}
	if r := (*results)[0]; r.Outcome != Refused || r.Found != sum2 {
		t.Fatalf("tampered: %+v (file has %s)", r, sum2)
	}
	if got, _ := os.ReadFile(p2); !bytes.Equal(got, orig) {
		t.Fatal("a refused recording changed")
	}
}

// TestCompactChildKill9: the real child, SIGKILLed by its parent at every step (in the middle
// of the copy, after it, after its fsync, after the marker notes its hash, after the rename)
// leaves a whole recording at the path (the original or the compacted copy) and the marker; the
// job fails and the next child finishes it. While it works, every thread of the child runs at
// SCHED_IDLE.
func TestCompactChildKill9(t *testing.T) {
	for _, at := range []string{"writing", "copied", "synced", "noted", "renamed"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			c, results, path, sum, want := childJob(t, dir)
			var policies map[int]uint32
			w := &hangWatch{onHang: func(pid int) {
				policies = threadPolicies(t, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}}
			c.Worker = testChild(w, "GH_COMPACT_HANG_AT="+at)
			err := c.Pass(context.Background())
			if err == nil || !strings.Contains(err.Error(), "killed") || len(*results) != 0 {
				t.Fatalf("a killed child: %v %+v", err, *results)
			}
			if len(policies) < 2 {
				t.Fatalf("the child's threads: %v", policies)
			}
			for tid, p := range policies {
				if p != unix.SCHED_IDLE {
					t.Fatalf("thread %d of the child has policy %d (bit 16: not the idle I/O class), want SCHED_IDLE and the idle I/O class", tid, p)
				}
			}
			if _, err := os.Stat(tempPath(path)); (at != "renamed") != (err == nil) {
				t.Fatalf("killed at %s: temporary copy %v", at, err)
			}
			sameEvents(t, "after the kill", eventsOfFile(t, path), want)
			job, err := readMarker(filepath.Join(c.Queue, "1111222233334444aaaabbbb.json"))
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := sumOf(t, path); got != sum && got != job.NewSHA256 {
				t.Fatalf("the file's sha256 %s is neither the audited one nor the noted copy's", got)
			}
			finishes(t, c, results, path, want)
		})
	}
}

// TestCompactChildStops: a child that hangs is killed at its timeout, and when gatehouse shuts
// down (ctx); a child that panics, or finds the disk full, answers a failure. Each keeps the
// original and the marker, leaves no copy, and the next child finishes.
func TestCompactChildStops(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  string
		want func(error) bool
	}{
		{"timeout", "GH_COMPACT_HANG_AT=copied", func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"shutdown", "GH_COMPACT_HANG_AT=synced", func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"panic", "GH_COMPACT_PANIC_AT=copied", func(err error) bool { return strings.Contains(err.Error(), "(panic): injected at copied") }},
		{"full disk", "GH_COMPACT_FULL=1", func(err error) bool { return errors.Is(err, syscall.ENOSPC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c, results, path, _, want := childJob(t, dir)
			orig, _ := os.ReadFile(path)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := testChild(&hangWatch{onHang: func(int) {
				if tc.name == "shutdown" {
					cancel()
				}
			}}, tc.env)
			if tc.name == "timeout" {
				w.Timeout = 2 * time.Second
			}
			c.Worker = w
			err := c.Pass(ctx)
			if err == nil || !tc.want(err) || len(*results) != 0 {
				t.Fatalf("%s: %v %+v", tc.name, err, *results)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) {
				t.Fatal("the original changed")
			}
			if !c.Held(path) {
				t.Fatal("the job is no longer queued")
			}
			finishes(t, c, results, path, want)
		})
	}
}

// TestCompactChildParent is the gatehouse of TestCompactChildPdeathsig: with GH_COMPACT_PARENT=1
// it runs a child that hangs, its stderr passed through.
func TestCompactChildParent(t *testing.T) {
	if os.Getenv("GH_COMPACT_PARENT") != "1" {
		return
	}
	c := &Compactor{Queue: os.Getenv("GH_COMPACT_QUEUE")}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	c.Worker = testChild(os.Stderr, "GH_COMPACT_HANG_AT=copied", "GH_COMPACT_PARENT=")
	_ = c.Pass(context.Background())
	t.Fatal("the child came back")
}

// TestCompactChildPdeathsig: gatehouse killed -9 while its child works takes the child with it
// (the kernel sends it SIGKILL); the original and the marker stay, and the next child finishes.
func TestCompactChildPdeathsig(t *testing.T) {
	dir := t.TempDir()
	c, results, path, _, want := childJob(t, dir)
	parent := exec.Command(os.Args[0], "-test.run=^TestCompactChildParent$", "-test.count=1")
	parent.Env = append(os.Environ(), "GH_COMPACT_PARENT=1", "GH_COMPACT_QUEUE="+c.Queue)
	stderr, err := parent.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	child := 0
	for sc := bufio.NewScanner(stderr); sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "hang" {
			child, _ = strconv.Atoi(f[2])
			break
		}
	}
	if child == 0 {
		_ = parent.Process.Kill()
		t.Fatalf("no child: %v", parent.Wait())
	}
	fd, err := unix.PidfdOpen(child, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	_ = parent.Process.Kill()
	_ = parent.Wait()
	// The pidfd turns readable when the child has ended (the wait is on that, bounded).
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 60_000); n != 1 || err != nil {
		t.Fatalf("the child outlived its parent: %d %v", n, err)
	}
	finishes(t, c, results, path, want)
}

// TestCompactChildBadAnswers: a child whose answer is missing, cut, garbled or not for this job
// fails the job: the original stays, the job stays queued.
func TestCompactChildBadAnswers(t *testing.T) {
	for name, script := range map[string]string{
		"nothing":       `exit 0`,
		"cut":           `printf '{"id":"%s","outcome":"gone"'`,
		"another job":   `printf '{"id":"x","outcome":"gone"}\n'`,
		"failed exit":   `printf '{"id":"%s","outcome":"gone"}\n'; exit 1`,
		"unnoted hash":  `printf '{"id":"%s","outcome":"compacted","new_sha256":"` + strings.Repeat("0", 64) + `","new_size":5}\n'`,
		"two answers":   `printf '{"id":"%s","outcome":"gone"}\n{"id":"%s","outcome":"gone"}\n'`,
		"endless":       `yes`,
		"garbage":       `head -c 300 /dev/urandom`,
		"killed itself": `kill -9 $$`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c, results, path, _, want := childJob(t, dir)
			orig, _ := os.ReadFile(path)
			id := "1111222233334444aaaabbbb"
			c.Worker = &ChildWorker{Path: "/bin/sh", Args: []string{"-c", strings.ReplaceAll(script, "%s", id)}}
			err := c.Pass(context.Background())
			if err == nil || len(*results) != 0 {
				t.Fatalf("a bad answer was taken: %v %+v", err, *results)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) || !c.Held(path) {
				t.Fatal("the original changed or the job left the queue")
			}
			finishes(t, c, results, path, want)
		})
	}
}
