package record

// The Compactor rewrites closed gatehouse recordings whose chunks were stored as is to be
// compressed later (compact_plan.go), one file at a time, at idle priority: in a child process
// whose threads are all SCHED_IDLE (Worker: compact_child*.go; gatehouse serve on Linux), or on
// a SCHED_IDLE thread of this process (compact_linux.go). docs/recording.md, "Compress at rest".
//
// A queued file has a marker in the queue directory (ID.json: its path, the SHA-256 and size
// audited at its close, its deferred bytes), written before the tracker hands the file to the
// archive, removed once the compaction's outcome is recorded. A compaction:
//  1. removes a temporary copy a crash left (".NAME.compacting" beside the file);
//  2. reads the file once, hashing it and writing the compacted copy (each chunk stored as is
//     that s2 shrinks by 1/64 becomes an s2 chunk; every other chunk is copied as it is);
//  3. compares the hash with the audited one: a file changed since its close (tampered, or
//     damaged) is never compacted: the copy is removed and Done is told ("refused", an alert);
//  4. fsyncs the copy, notes its hash and size in the marker (so a restart tells a file
//     already replaced from one changed by someone), renames it over the file, fsyncs the
//     directory, and tells Done ("compacted"), which records the new hash (session row, audit
//     event `recording.compacted`, archive).
//
// A kill -9 at any instant leaves the original or the compacted file at the path, whole, and
// the marker: the next start does the rest. A write error (a full disk) removes the copy and
// keeps the original and the marker; the file is tried again after Retry.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CompactJob is a closed recording queued for compaction (its marker's content).
type CompactJob struct {
	ID       string `json:"id"` // the session's id: recording_id in the audit, the session row
	Path     string `json:"path"`
	SHA256   string `json:"sha256"` // the file's hash and size as audited at its close
	Size     int64  `json:"size"`
	Deferred int64  `json:"deferred"` // its bytes stored as is to compact (the Deferral's share)
	// NewSHA256 and NewSize are the compacted copy's, noted before it replaces the file.
	NewSHA256 string `json:"new_sha256,omitempty"`
	NewSize   int64  `json:"new_size,omitempty"`
}

// CompactOutcome is how a compaction ended.
type CompactOutcome string

const (
	// Compacted: the file now holds the compacted copy (Job.NewSHA256, Job.NewSize).
	Compacted CompactOutcome = "compacted"
	// Unchanged: the file is as it was (nothing to gain, or chunks that do not read).
	Unchanged CompactOutcome = "unchanged"
	// Refused: the file's hash is not the audited one: never compacted, an alert.
	Refused CompactOutcome = "refused"
	// Gone: the file is no longer on disk.
	Gone CompactOutcome = "gone"
)

// CompactResult is told to Compactor.Done.
type CompactResult struct {
	Job     CompactJob
	Outcome CompactOutcome
	// Found is the SHA-256 the file had when Refused; Reason says why Unchanged or Refused.
	Found, Reason string
}

// Compactor compacts the queued recordings of a node.
type Compactor struct {
	Queue string // marker directory (created 0700)
	// Root, when set, is the recordings' directory: a marker naming a file elsewhere, or not a
	// gatehouse recording (a marker edited by hand), is never compacted nor handed to Next.
	Root  string
	Defer *Deferral // given back each file's deferred bytes once it is done (may be nil)
	Log   *slog.Logger
	// Done records an outcome (the new hash in the session row and the audit log, the file to
	// the archive); its error keeps the marker and the job is done again after Retry. It runs on
	// the compactor's idle thread: it must not wait on the CPU-bound paths it would slow.
	Done func(ctx context.Context, r CompactResult) error
	// Next, when set, is told of each file once its compaction is over and it is no longer
	// Held, with the hash and size it has now (the archive ships it then).
	Next func(path, sha256 string, size int64)
	// Retry is the wait after a failed job (a full disk, a store away): 1 minute when 0.
	Retry time.Duration

	// create opens the temporary copy (tests inject a full disk); crash, when set, is called at
	// each step and may end the process there (tests of kill -9).
	create func(path string) (io.WriteCloser, error)
	crash  func(step string)
	// Worker, when set, does each job's file part (ChildWorker: a child process at idle
	// priority); nil: Run's idle thread, or in place when Pass is called alone.
	Worker CompactWorker

	// work does a job's file part on Run's idle thread (when Worker is nil).
	work func(CompactJob) (CompactResult, error)

	mu   sync.Mutex
	held map[string]string // path -> marker file, for queued jobs
	// fails counts each marker's failed tries; released holds the queued files handed to
	// Next (the archive) as they are, after a full disk or releaseAfter failed tries.
	fails    map[string]int
	released map[string]bool
	kick     chan struct{}
	ready    bool
}

// markerExt names the markers; temporary markers end in markerExt+".tmp".
const markerExt = ".json"

// ErrQueueBusy: another process (a second gatehouse on the same data directory) holds the
// queue's lock; its pass is skipped and tried again after Retry.
var ErrQueueBusy = errors.New("record: the compaction queue is locked by another process")

// queueLockPath is the queue's lock file, beside it (DATA_DIR/compact.lock): the queue holds
// markers only.
func queueLockPath(queue string) string { return filepath.Clean(queue) + ".lock" }

// Open loads the queue: markers left by a previous run are the jobs of this one (their bytes
// count in the Deferral), torn marker copies are removed.
func (c *Compactor) Open() error {
	if err := os.MkdirAll(c.Queue, 0o700); err != nil {
		return fmt.Errorf("record: compaction queue: %w", err)
	}
	c.held, c.kick, c.ready = map[string]string{}, make(chan struct{}, 1), true
	c.fails, c.released = map[string]int{}, map[string]bool{}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	ents, err := os.ReadDir(c.Queue)
	if err != nil {
		return fmt.Errorf("record: compaction queue: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(c.Queue, e.Name())
		if strings.HasSuffix(e.Name(), markerExt+".tmp") {
			_ = os.Remove(p) // a marker torn by a crash: its job was not queued yet
			continue
		}
		if !strings.HasSuffix(e.Name(), markerExt) {
			continue
		}
		job, err := readMarker(p)
		if err == nil {
			err = c.inRoot(job.Path)
		}
		if err != nil {
			c.Log.Error("record: unreadable compaction marker; its recording stays as it is", "marker", p, "err", err)
			continue
		}
		c.held[job.Path] = p
		if c.Defer != nil {
			c.Defer.pending.Add(job.Deferred)
		}
	}
	return nil
}

// Enqueue queues a closed recording. On an error (the marker cannot be written) the file stays
// as it is, uncompacted, and its deferred bytes are given back: the caller logs it.
func (c *Compactor) Enqueue(job CompactJob) error {
	p := filepath.Join(c.Queue, job.ID+markerExt)
	if !c.ready || job.ID == "" || job.ID != filepath.Base(job.ID) || strings.HasPrefix(job.ID, ".") || c.inRoot(job.Path) != nil {
		c.Defer.Release(job.Deferred)
		return fmt.Errorf("record: compaction of %s: not queued (bad id %q, a file outside the recordings, or closed queue)", job.Path, job.ID)
	}
	job.NewSHA256, job.NewSize = "", 0
	mine := job.Deferred // on a failure, only these are given back: an old marker stays
	oldPath := ""
	if old, err := readMarker(p); err == nil {
		// Queued again (a restart's Interrupted, the row left open): the old marker's bytes
		// are in the Deferral too, and are given back with this job's. A file its compaction
		// already replaced keeps the old job, so the hash audited at its close is chained.
		job.Deferred += old.Deferred
		if old.Path == job.Path && (job.SHA256 == old.SHA256 || job.SHA256 == old.NewSHA256) {
			old.Deferred, job = job.Deferred, old
		}
		oldPath = old.Path
	}
	if err := c.writeMarker(p, job); err != nil {
		c.Defer.Release(mine)
		return fmt.Errorf("record: queue the compaction of %s: %w", job.Path, err)
	}
	c.mu.Lock()
	if oldPath != job.Path {
		delete(c.held, oldPath) // its marker is this one now
	}
	c.held[job.Path] = p
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return nil
}

// Held reports whether path waits for its compaction (the archive ships it after).
func (c *Compactor) Held(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.held[path]
	return ok
}

// Withheld reports whether the archive is to wait for path: queued, and not released to it as
// it is (after a full disk, or failed tries). The archive's Hold.
func (c *Compactor) Withheld(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.held[path]
	return ok && !c.released[path]
}

// releaseAfter is the number of failed tries after which a queued file is handed to Next (the
// archive) as it is, still queued; a full disk hands it at once.
const releaseAfter = 3

// failed counts a failed try of marker m. A file whose compaction fails on a full disk, or
// fails again and again, is not held from the archive any longer: the evidence leaves the
// node as it is now, and once compacted it is handed to Next again. A shutdown is no failure.
func (c *Compactor) failed(ctx context.Context, m string, err error) {
	if ctx.Err() != nil || errors.Is(err, ErrQueueBusy) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fails[m]++
	if c.fails[m] < releaseAfter && !errors.Is(err, syscall.ENOSPC) {
		return
	}
	for p, mm := range c.held {
		if mm == m && !c.released[p] {
			c.released[p] = true
			c.Log.Warn("record: a recording's compaction keeps failing; the archive ships it as it is", "path", p, "err", err)
			if c.Next != nil {
				c.Next(p, "", 0) // its hash is the marker's, or the compacted copy's: not known here
			}
		}
	}
}

// Run compacts queued files until ctx ends, one file at a time. The files are read, compressed
// and written by Worker (a child process) or, without one, on a goroutine locked to a thread the
// kernel runs at idle priority (Linux; elsewhere a plain goroutine); what takes shared locks
// (Done: the store, the audit log) runs here, on a normal thread: the idle one may wait long
// for a core, and must not make sessions wait behind a lock it holds.
func (c *Compactor) Run(ctx context.Context) {
	if c.Worker == nil {
		defer c.idleWorker()()
	}
	retry := c.Retry
	if retry <= 0 {
		retry = time.Minute
	}
	t := time.NewTimer(retry)
	defer t.Stop()
	for {
		err := c.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			c.Log.Warn("record: compaction paused; the recording stays as it is until the next try", "err", err, "retry", retry)
		}
		t.Stop()
		var tick <-chan time.Time
		if err != nil {
			t.Reset(retry)
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-tick:
		}
	}
}

// idleWorker starts the in-process file work (no Worker: not Linux, tests): a goroutine on a
// thread at idle priority, until the returned stop is called.
func (c *Compactor) idleWorker() (stop func()) {
	jobs, results := make(chan CompactJob), make(chan compactDone)
	go func() {
		// The thread stays locked to this goroutine and ends with it, so its idle priority
		// never reaches another goroutine.
		idleThread(c.Log)
		for job := range jobs {
			res, err := c.compact(job)
			results <- compactDone{res, err}
		}
	}()
	c.work = func(job CompactJob) (CompactResult, error) {
		jobs <- job
		d := <-results
		return d.res, d.err
	}
	return func() { close(jobs) }
}

type compactDone struct {
	res CompactResult
	err error
}

// Pass compacts every queued file once, in the order of their markers; it returns the first
// error after trying them all (the failed ones stay queued).
func (c *Compactor) Pass(ctx context.Context) error {
	// One compactor at a time per queue: two processes on one data directory would remove
	// each other's temporary copy and rename a half-written one over the recording.
	unlock, err := lockQueue(c.Queue)
	if err != nil {
		return fmt.Errorf("record: compaction queue: %w", err)
	}
	defer unlock()
	c.mu.Lock()
	markers := make([]string, 0, len(c.held))
	for _, m := range c.held {
		markers = append(markers, m)
	}
	c.mu.Unlock()
	slices.Sort(markers)
	var first error
	for _, m := range markers {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := c.one(ctx, m)
		if err != nil {
			c.failed(ctx, m, err)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// one runs the job of marker m to its end, or to an error that keeps it queued.
func (c *Compactor) one(ctx context.Context, m string) error {
	job, err := readMarker(m)
	if errors.Is(err, os.ErrNotExist) {
		// Another process on this data directory finished it (and recorded it) meanwhile.
		c.drop(m)
		return nil
	}
	if err == nil {
		// The marker is read again for each try: one changed since it was queued is checked
		// again, and must still name the file that is held.
		err = c.inRoot(job.Path)
		c.mu.Lock()
		if m2, ok := c.held[job.Path]; err == nil && (!ok || m2 != m) {
			err = fmt.Errorf("the marker names %s, not the file queued", job.Path)
		}
		c.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("record: compaction marker %s: %w", m, err)
	}
	var res CompactResult
	switch {
	case c.Worker != nil:
		res, err = c.Worker.CompactFile(ctx, c.Queue, job)
	case c.work != nil:
		res, err = c.work(job)
	default:
		res, err = c.compact(job) // Pass called without Run (tests, a one-off pass)
	}
	if err != nil {
		return fmt.Errorf("record: compact %s: %w", job.Path, err)
	}
	switch res.Outcome {
	case Refused:
		c.Log.Error("record: a recording differs from its audited sha256: not compacted, kept as it is", "path", job.Path,
			"id", job.ID, "audited", job.SHA256, "found", res.Found)
	case Gone:
		c.Log.Error("record: a recording waiting for its compaction is gone from the disk", "path", job.Path, "id", job.ID)
	}
	if c.Done != nil {
		if err := c.Done(ctx, res); err != nil {
			return fmt.Errorf("record: record the compaction of %s: %w", job.Path, err)
		}
	}
	c.step("recorded")
	if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("record: compaction marker: %w", err)
	}
	// Next is told while the file is still held, and the hold ends under the same lock: a
	// pass of the archive between the two would otherwise ship the compacted file against the
	// old hash (a false "differs from its audited sha256" alarm, then a second upload). Next
	// must not call back into the Compactor (the archive's Closed does not; its pass asks Held
	// without holding its own lock).
	c.mu.Lock()
	// A file released to the archive as it is goes again only when it changed (compacted).
	if c.Next != nil && res.Outcome != Gone && (!c.released[job.Path] || res.Outcome == Compacted) {
		sum, size := job.SHA256, job.Size
		if res.Outcome == Compacted {
			sum, size = res.Job.NewSHA256, res.Job.NewSize
		}
		c.Next(job.Path, sum, size)
	}
	delete(c.held, job.Path)
	delete(c.released, job.Path)
	delete(c.fails, m)
	c.mu.Unlock()
	c.Defer.Release(job.Deferred)
	return nil
}

// drop forgets the job of marker m, gone from the queue: its file is no longer held. Its
// deferred bytes (counted when Open loaded it; the marker that said how many is gone) stay
// counted until the next start: an over-count only makes recorders compress inline sooner.
func (c *Compactor) drop(m string) {
	c.mu.Lock()
	for p, mm := range c.held {
		if mm == m {
			delete(c.held, p)
			delete(c.released, p)
		}
	}
	delete(c.fails, m)
	c.mu.Unlock()
}

func (c *Compactor) step(name string) {
	if c.crash != nil {
		c.crash(name)
	}
}

// tempPath is the compacted copy of path while it is written: hidden, beside it (same file
// system, so the rename is atomic).
func tempPath(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".compacting")
}

// compact does the file's part of job: an error leaves the original and the marker.
func (c *Compactor) compact(job CompactJob) (CompactResult, error) {
	res := CompactResult{Job: job}
	tmp := tempPath(job.Path)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	if job.NewSHA256 != "" {
		// A run before this one got as far as the rename, or not: the hash tells.
		sum, _, err := fileSum(job.Path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			res.Outcome = Gone
			return res, nil
		case err != nil:
			return res, err
		case sum == job.NewSHA256:
			res.Outcome = Compacted
			return res, nil
		case sum != job.SHA256:
			res.Outcome, res.Found, res.Reason = Refused, sum, "the file's sha256 is neither the audited one nor its compacted copy's"
			return res, nil
		}
		res.Job.NewSHA256, res.Job.NewSize = "", 0
	}
	src, err := os.Open(job.Path)
	if errors.Is(err, os.ErrNotExist) {
		res.Outcome = Gone
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer func() { _ = src.Close() }() // read only
	create := c.create
	if create == nil {
		create = func(p string) (io.WriteCloser, error) {
			return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
	}
	dst, err := create(tmp)
	if err != nil {
		return res, err
	}
	keep := false
	defer func() {
		if !keep {
			_ = dst.Close() // the copy is dropped: only its removal matters
			_ = os.Remove(tmp)
		}
	}()
	oldSum := sha256.New()
	newSum := sha256.New()
	out := &hashCounter{w: dst, h: newSum}
	rerr, err := rewrite(out, io.TeeReader(src, oldSum))
	if err != nil {
		return res, err // a write error (a full disk): the original stays, tried again later
	}
	if rerr != nil {
		// A chunk that does not read: hash the rest, the hash decides whether it is tampering.
		if _, err := io.Copy(oldSum, src); err != nil {
			return res, err
		}
	}
	c.step("copied")
	if got := hex.EncodeToString(oldSum.Sum(nil)); got != job.SHA256 {
		res.Outcome, res.Found, res.Reason = Refused, got, "the file's sha256 is not the audited one"
		return res, nil
	}
	if rerr != nil || out.n >= job.Size {
		res.Outcome, res.Reason = Unchanged, "nothing to gain"
		if rerr != nil {
			res.Reason = rerr.Error()
		}
		return res, nil
	}
	if f, ok := dst.(*os.File); ok {
		if err := f.Sync(); err != nil {
			return res, err
		}
	}
	keep = true
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return res, err
	}
	c.step("synced")
	res.Job.NewSHA256, res.Job.NewSize = hex.EncodeToString(newSum.Sum(nil)), out.n
	if err := c.writeMarker(filepath.Join(c.Queue, job.ID+markerExt), res.Job); err != nil {
		_ = os.Remove(tmp)
		return res, err
	}
	c.step("noted")
	if err := os.Rename(tmp, job.Path); err != nil {
		_ = os.Remove(tmp)
		return res, err
	}
	c.step("renamed")
	if err := syncDir(filepath.Dir(job.Path)); err != nil {
		return res, err // the marker says which file is there: the next try finishes
	}
	res.Outcome = Compacted
	return res, nil
}
