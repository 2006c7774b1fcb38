package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ChildWorker runs each compaction's file work in a child process (compact_child.go).
type ChildWorker struct {
	Path string   // the binary: /proc/self/exe (gatehouse itself)
	Args []string // its arguments: CompactChildArg
	Env  []string // nil: the parent's
	// Timeout bounds a child that hangs (it is killed, the job tried again after Retry); 0: 15
	// minutes plus 15 per GiB of the file (a child at idle priority may wait long for a core).
	Timeout time.Duration
	Stderr  io.Writer // the child's warnings; nil: discarded
}

// NewChildWorker is gatehouse's own binary as the compaction child.
func NewChildWorker(stderr io.Writer) CompactWorker {
	return &ChildWorker{Path: "/proc/self/exe", Args: []string{CompactChildArg}, Stderr: stderr}
}

func (w *ChildWorker) timeout(size int64) time.Duration {
	if w.Timeout > 0 {
		return w.Timeout
	}
	return 15*time.Minute + time.Duration(size>>20)*(15*time.Minute)/1024
}

// capped keeps the first max+1 bytes written (enough to tell an answer too long) and then
// stops the child (over), so a child writing without end neither grows nor holds the parent.
type capped struct {
	buf  bytes.Buffer
	max  int
	over func()
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max + 1 - c.buf.Len()
	c.buf.Write(p[:min(max(room, 0), len(p))])
	if len(p) >= room {
		c.over()
		return 0, errors.New("record: compaction child: answer too long")
	}
	return len(p), nil
}

// CompactFile runs one child for job and reads its answer. The child is killed (SIGKILL) when
// ctx ends (gatehouse shuts down), after the timeout, and when gatehouse dies (Pdeathsig).
func (w *ChildWorker) CompactFile(ctx context.Context, queue string, job CompactJob) (CompactResult, error) {
	fail := CompactResult{Job: job}
	req, err := json.Marshal(childRequest{Queue: queue, Job: job})
	if err != nil {
		return fail, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout(job.Size))
	defer cancel()
	cmd := exec.CommandContext(ctx, w.Path, w.Args...)
	out := &capped{max: maxChildAnswer, over: cancel}
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = w.Env, bytes.NewReader(req), out, w.Stderr
	cmd.WaitDelay = 10 * time.Second // a grandchild holding the pipes must not hold us
	// Pdeathsig is sent when the *thread* that started the child ends: keep this goroutine on
	// its thread until the child is reaped, so no other goroutine can end that thread under it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	runErr := cmd.Run()
	runtime.UnlockOSThread()
	if ctx.Err() != nil {
		return fail, fmt.Errorf("record: compaction child stopped (%w): %v", context.Cause(ctx), runErr)
	}
	res, err := parseChildAnswer(out.buf.Bytes(), job)
	if err != nil {
		if runErr != nil {
			return fail, fmt.Errorf("%w (the child: %v)", err, runErr)
		}
		return fail, err
	}
	if runErr != nil {
		return fail, fmt.Errorf("%w: an outcome with a failed exit: %v", ErrChildAnswer, runErr)
	}
	if res.Outcome == Compacted {
		// The child noted the copy's hash in the marker before its rename: both must say the
		// same, or the answer is not to be believed.
		m, err := readMarker(filepath.Join(queue, job.ID+markerExt))
		if err != nil || m.NewSHA256 != res.Job.NewSHA256 || m.NewSize != res.Job.NewSize {
			return fail, fmt.Errorf("%w: the marker does not note the compacted hash (%v)", ErrChildAnswer, err)
		}
	}
	return res, nil
}

// ioprio_set(2)'s arguments: one thread (IOPRIO_WHO_PROCESS with a thread id), the idle class.
const (
	ioprioWhoProcess = 1
	ioprioClassIdle  = 3 << 13
)

// idleProcess gives every thread of this process the SCHED_IDLE policy and the idle I/O class. Threads started later
// inherit it from the thread that starts them; a thread started while the loop runs is caught by
// the next round.
func idleProcess() error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}
	for range 5 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		changed := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy == unix.SCHED_IDLE {
				continue
			}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
			// Its disk I/O too, where the I/O scheduler honours classes (BFQ): best effort, an
			// error changes nothing (the CPU policy above is what keeps it off the sessions).
			_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), ioprioClassIdle)
			changed = true
		}
		if !changed {
			return nil
		}
	}
	return nil
}
