package record

import (
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
