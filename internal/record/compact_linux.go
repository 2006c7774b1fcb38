package record

import (
	"log/slog"
	"runtime"

	"golang.org/x/sys/unix"
)

// idleThread locks the calling goroutine to its OS thread and gives that thread the SCHED_IDLE
// policy: the kernel runs it only on a core nothing else wants, so compaction never takes CPU
// from a relay. The goroutine must end without unlocking (the thread then ends with it and its
// policy never reaches another goroutine). A refusal (a seccomp filter) leaves it at normal
// priority, still one file at a time, and is logged.
func idleThread(log *slog.Logger) {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		log.Warn("record: the compaction thread cannot run at idle priority; it runs at normal priority", "err", err)
	}
}

// threadPolicy is the scheduling policy of the calling thread (tests).
func threadPolicy() (uint32, error) {
	a, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return 0, err
	}
	return a.Policy, nil
}
