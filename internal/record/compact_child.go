package record

// The compaction's file work in a child process (docs/recording.md, "Compress at rest"). A
// goroutine on a SCHED_IDLE thread inside gatehouse starves under full load, and every
// stop-the-world of gatehouse's GC waits for that thread to reach a safe point: all sessions
// stall meanwhile (/work/notes/perf-compact.md, "child process"). So on Linux gatehouse re-runs
// its own binary with CompactChildArg; the child puts all its threads at idle priority and does
// the file part of one job (Compactor.compact: read, check the audited SHA-256, s2, temporary
// copy, fsync, marker, rename), then writes one line of JSON on stdout. The parent keeps the
// outcome part (store, audit log, archive) and reads that line strictly: anything but a whole,
// well-formed answer for this job is a failure (the original stays, the job is tried again).

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
)

// CompactChildArg is the hidden first argument that makes gatehouse a compaction child.
const CompactChildArg = "__compact-child"

// CompactWorker does the file part of a compaction (Compactor.compact's contract): an error
// leaves the original and the marker, and the job is tried again after Retry.
type CompactWorker interface {
	CompactFile(ctx context.Context, queue string, job CompactJob) (CompactResult, error)
}

// childRequest is what the parent writes on the child's stdin.
type childRequest struct {
	Queue string     `json:"queue"`
	Job   CompactJob `json:"job"`
}

// childAnswer is the child's one line on stdout: an outcome, or a failure (Fail).
type childAnswer struct {
	ID        string         `json:"id"`
	Outcome   CompactOutcome `json:"outcome,omitempty"`
	NewSHA256 string         `json:"new_sha256,omitempty"`
	NewSize   int64          `json:"new_size,omitempty"`
	Found     string         `json:"found,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	Fail      string         `json:"fail,omitempty"` // failNoSpace, failError, failPanic
	Err       string         `json:"err,omitempty"`
}

const (
	failNoSpace = "nospace" // the disk is full: ErrNoSpace (syscall.ENOSPC)
	failError   = "error"   // any other error of the file work
	failPanic   = "panic"   // the child panicked (a bug): the copy is removed on the way out
	// maxChildAnswer bounds the answer (and what the parent buffers of the child's stdout).
	maxChildAnswer = 4 << 10
	// maxAnswerText bounds Reason and Err, so an answer always fits in maxChildAnswer.
	maxAnswerText = 1 << 10
)

// ErrChildAnswer is a child's answer that is not a whole, well-formed one for its job.
var ErrChildAnswer = errors.New("record: compaction child: bad answer")

// isSHA256 reports whether s is a SHA-256 in lower-case hex.
func isSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// parseChildAnswer reads the child's stdout for job strictly: one line of JSON ending in a
// newline, no unknown field, nothing after it, the job's id, and exactly the fields its outcome
// or failure has. A failure answer is returned as an error (ENOSPC for a full disk).
func parseChildAnswer(b []byte, job CompactJob) (CompactResult, error) {
	res := CompactResult{Job: job}
	res.Job.NewSHA256, res.Job.NewSize = "", 0
	bad := func(why string) (CompactResult, error) {
		return CompactResult{Job: job}, fmt.Errorf("%w: %s", ErrChildAnswer, why)
	}
	if len(b) == 0 {
		return bad("no answer")
	}
	if len(b) > maxChildAnswer {
		return bad("answer too long")
	}
	if b[len(b)-1] != '\n' || bytes.IndexByte(b, '\n') != len(b)-1 {
		return bad("not one whole line")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a childAnswer
	if err := dec.Decode(&a); err != nil {
		return bad(err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the answer")
	}
	if a.ID != job.ID {
		return bad(fmt.Sprintf("answer for %q, asked %q", a.ID, job.ID))
	}
	if len(a.Reason) > maxAnswerText || len(a.Err) > maxAnswerText {
		return bad("text too long")
	}
	if a.Fail != "" {
		if a.Outcome != "" || a.NewSHA256 != "" || a.NewSize != 0 || a.Found != "" || a.Reason != "" {
			return bad("a failure with an outcome")
		}
		switch a.Fail {
		case failNoSpace:
			return res, fmt.Errorf("record: compaction child: %s: %w", a.Err, syscall.ENOSPC)
		case failError, failPanic:
			return res, fmt.Errorf("record: compaction child (%s): %s", a.Fail, a.Err)
		}
		return bad("unknown failure " + a.Fail)
	}
	if a.Err != "" {
		return bad("an error without a failure")
	}
	switch a.Outcome {
	case Compacted:
		if !isSHA256(a.NewSHA256) || a.NewSize <= 0 || a.Found != "" || a.Reason != "" {
			return bad("compacted without a new hash and size")
		}
		res.Job.NewSHA256, res.Job.NewSize = a.NewSHA256, a.NewSize
	case Refused:
		if !isSHA256(a.Found) || a.Found == job.SHA256 || a.NewSHA256 != "" || a.NewSize != 0 || a.Reason == "" {
			return bad("refused without the hash found")
		}
		res.Found = a.Found
	case Unchanged:
		if a.NewSHA256 != "" || a.NewSize != 0 || a.Found != "" || a.Reason == "" {
			return bad("unchanged with a new hash")
		}
	case Gone:
		if a.NewSHA256 != "" || a.NewSize != 0 || a.Found != "" || a.Reason != "" {
			return bad("gone with a hash")
		}
	default:
		return bad(fmt.Sprintf("unknown outcome %q", a.Outcome))
	}
	res.Outcome, res.Reason = a.Outcome, a.Reason
	return res, nil
}

func clip(s string) string {
	if len(s) > maxAnswerText {
		return s[:maxAnswerText]
	}
	return s
}

// answerOf is the child's answer for a result of Compactor.compact.
func answerOf(res CompactResult, err error) childAnswer {
	a := childAnswer{ID: res.Job.ID}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		a.Fail, a.Err = failNoSpace, clip(err.Error())
	case err != nil:
		a.Fail, a.Err = failError, clip(err.Error())
	default:
		a.Outcome, a.Found, a.Reason = res.Outcome, res.Found, clip(res.Reason)
		if res.Outcome == Compacted {
			a.NewSHA256, a.NewSize = res.Job.NewSHA256, res.Job.NewSize
		}
		if res.Outcome == Refused && a.Reason == "" {
			a.Reason = "the file's sha256 is not the audited one"
		}
		if res.Outcome == Unchanged && a.Reason == "" {
			a.Reason = "nothing to gain"
		}
	}
	return a
}

// CompactChildMain is the child's main: it reads one request on stdin, does its file work at
// idle priority and writes its answer on stdout; it returns the exit code (0 with an outcome).
func CompactChildMain(stdin io.Reader, stdout, stderr io.Writer) int {
	return compactChild(stdin, stdout, stderr, &Compactor{}, idleProcess)
}

// parseChildRequest reads the child's job from stdin (at most 64 KiB of JSON, no unknown field)
// and checks it: absolute queue and path, an id of one path element not starting with ".", an
// audited hash of 64 hex digits. The job it gives is the request's even on error (its id
// names the answer).
func parseChildRequest(stdin io.Reader) (childRequest, error) {
	var req childRequest
	dec := json.NewDecoder(io.LimitReader(stdin, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, err
	}
	j := req.Job
	if !filepath.IsAbs(req.Queue) || !filepath.IsAbs(j.Path) || j.ID == "" || j.ID != filepath.Base(j.ID) ||
		strings.HasPrefix(j.ID, ".") || !isSHA256(j.SHA256) {
		return req, errors.New("bad request")
	}
	return req, nil
}

// compactChild is CompactChildMain with the compactor's test hooks (c.crash, c.create) and the
// priority change (idle: idleProcess in a child; a test calling it in its own process must not
// make that process idle).
func compactChild(stdin io.Reader, stdout, stderr io.Writer, c *Compactor, idle func() error) (code int) {
	var a childAnswer
	defer func() {
		if p := recover(); p != nil {
			a, code = childAnswer{ID: a.ID, Fail: failPanic, Err: clip(fmt.Sprint(p))}, 3
		}
		b, _ := json.Marshal(a) // plain fields: cannot fail
		if _, err := stdout.Write(append(b, '\n')); err != nil && code == 0 {
			code = 1
		}
	}()
	if err := idle(); err != nil {
		_, _ = fmt.Fprintf(stderr, "gatehouse compaction child: idle priority refused, running at normal priority: %v\n", err)
	}
	req, err := parseChildRequest(stdin)
	j := req.Job
	a.ID = j.ID
	if err != nil {
		a = childAnswer{ID: j.ID, Fail: failError, Err: clip("request: " + err.Error())}
		return 2
	}
	c.Queue = req.Queue
	res, err := c.compact(j)
	res.Job.ID = j.ID
	a = answerOf(res, err)
	if err != nil {
		return 1
	}
	return 0
}
