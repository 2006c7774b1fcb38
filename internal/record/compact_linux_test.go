package record

import (
	"context"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIdleThread: the compactor's thread runs with SCHED_IDLE, and only it: the goroutine that
// set it ends with its thread, the test's own thread keeps its policy.
func TestIdleThread(t *testing.T) {
	got := make(chan uint32, 1)
	go func() {
		idleThread(nil)
		p, err := threadPolicy()
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	if p := <-got; p != unix.SCHED_IDLE {
		t.Fatalf("the compaction thread's policy is %d, want SCHED_IDLE (%d)", p, unix.SCHED_IDLE)
	}
}

// TestCompactorRun: a recording queued while Run runs is compacted, its file work on the idle
// thread and its outcome (Done: the store, the audit log) on a normal one, so a session never
// waits behind a lock held by a thread the kernel starves.
func TestCompactorRun(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "run.ghrec", d, log)
	type seen struct {
		res         CompactResult
		work, after uint32
	}
	done := make(chan seen, 1)
	var workPolicy uint32
	c := &Compactor{Queue: filepath.Join(dir, "queue"), Defer: d}
	c.crash = func(step string) {
		if step == "copied" {
			workPolicy, _ = threadPolicy()
		}
	}
	c.Done = func(_ context.Context, r CompactResult) error {
		p, _ := threadPolicy()
		done <- seen{r, workPolicy, p}
		return nil
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	mustQueue(t, c, "9999888877776666aaaabbbb", path, sum, size, deferred)
	s := <-done
	if s.res.Outcome != Compacted || s.work != unix.SCHED_IDLE || s.after == unix.SCHED_IDLE {
		t.Fatalf("outcome %s; file work under policy %d, Done under %d", s.res.Outcome, s.work, s.after)
	}
}
