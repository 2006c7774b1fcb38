package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrBroken is wrapped by the error Verify returns when the log fails
// verification; the Report's Problem says where and why.
var ErrBroken = errors.New("audit: log verification failed")

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Strict makes unsigned lines at the end of the log a failure. A log
	// that gatehouse is still writing, or that a crash interrupted, has
	// some; a log closed cleanly has none.
	Strict bool
	// AllowPartial accepts a first file that does not start the chain
	// (older files archived elsewhere); its first line is trusted.
	AllowPartial bool
}

// ProblemKind says how a log is broken.
type ProblemKind string

const (
	ProblemEdited            ProblemKind = "edited"             // a line's bytes changed
	ProblemDeleted           ProblemKind = "deleted"            // lines missing in the middle
	ProblemReordered         ProblemKind = "reordered"          // lines moved or duplicated
	ProblemTruncated         ProblemKind = "truncated"          // a file cut mid-line or lines cut from a file's end
	ProblemCorrupt           ProblemKind = "corrupt"            // a line is not an audit record
	ProblemBadSignature      ProblemKind = "bad-signature"      // a checkpoint does not verify
	ProblemMissingCheckpoint ProblemKind = "missing-checkpoint" // more lines than the interval without a checkpoint
	ProblemBadStart          ProblemKind = "bad-start"          // the chain does not start at seq 1
	ProblemUnsignedTail      ProblemKind = "unsigned-tail"      // strict mode only
	ProblemEmpty             ProblemKind = "empty"              // no lines at all
)

// Problem is the first place where a log fails verification.
type Problem struct {
	File   string
	Line   int    // 1-based line number within File
	Seq    uint64 // seq of that line, when it could be read
	Kind   ProblemKind
	Detail string
}

func (p Problem) String() string {
	seq := ""
	if p.Seq != 0 {
		seq = fmt.Sprintf(" (seq %d)", p.Seq)
	}
	return fmt.Sprintf("%s line %d%s: %s: %s", p.File, p.Line, seq, p.Kind, p.Detail)
}

// FileSummary describes one verified file.
type FileSummary struct {
	Path             string
	Lines            int
	FirstSeq         uint64
	LastSeq          uint64
	EndsInCheckpoint bool
}

// Report is the result of Verify. String gives a human summary.
type Report struct {
	Files             []FileSummary
	Lines             int
	Checkpoints       int
	FirstSeq, LastSeq uint64
	KeyID             string
	LastCheckpointSeq uint64
	// UnsignedTail counts lines after the last checkpoint.
	UnsignedTail int
	Strict       bool
	// Problem is the first break found, nil when the log verifies.
	Problem *Problem
}

// OK reports whether the log verified.
func (r Report) OK() bool { return r.Problem == nil }

func (r Report) String() string {
	var b strings.Builder
	status := "OK"
	if !r.OK() {
		status = "FAILED"
	}
	fmt.Fprintf(&b, "audit log verification: %s\n", status)
	fmt.Fprintf(&b, "  key %s; %d file(s), %d line(s)", r.KeyID, len(r.Files), r.Lines)
	if r.Lines > 0 {
		fmt.Fprintf(&b, ", seq %d-%d", r.FirstSeq, r.LastSeq)
	}
	fmt.Fprintf(&b, ", %d signed checkpoint(s)", r.Checkpoints)
	if r.Checkpoints > 0 {
		fmt.Fprintf(&b, ", the last at seq %d", r.LastCheckpointSeq)
	}
	b.WriteString("\n")
	for _, f := range r.Files {
		fmt.Fprintf(&b, "  %-40s %8d line(s)", filepath.Base(f.Path), f.Lines)
		if f.Lines > 0 {
			fmt.Fprintf(&b, "  seq %d-%d", f.FirstSeq, f.LastSeq)
		}
		b.WriteString("\n")
	}
	if r.UnsignedTail > 0 {
		fmt.Fprintf(&b, "  %d line(s) at the end are after the last checkpoint and not signed yet (a running or crashed gatehouse leaves them)\n", r.UnsignedTail)
	}
	if r.Problem != nil {
		fmt.Fprintf(&b, "  first problem: %s\n", r.Problem)
	}
	return b.String()
}

// VerifyFiles checks the chain through paths (files in order; a directory
// stands for its log files in order) against pub, with default options.
// The error is non-nil if the log is broken (wrapping ErrBroken) or could
// not be read; the Report says where and why either way.
func VerifyFiles(paths []string, pub ed25519.PublicKey) (Report, error) {
	return Verify(paths, pub, VerifyOptions{})
}

// Verify is VerifyFiles with options.
func Verify(paths []string, pub ed25519.PublicKey, opts VerifyOptions) (Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Report{}, errors.New("audit: verify needs the bastion's ed25519 public key")
	}
	files, err := expandPaths(paths)
	if err != nil {
		return Report{}, err
	}
	v := &verifier{pub: pub, opts: opts, files: files, rep: Report{KeyID: KeyID(pub), Strict: opts.Strict}}
	if err := v.run(); err != nil {
		return v.rep, err
	}
	if v.rep.Problem != nil {
		return v.rep, fmt.Errorf("%w: %s", ErrBroken, v.rep.Problem)
	}
	return v.rep, nil
}

func expandPaths(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if fi.IsDir() {
			more, err := Files(p)
			if err != nil {
				return nil, err
			}
			files = append(files, more...)
		} else {
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, errors.New("audit: no log files to verify")
	}
	return files, nil
}

type verifier struct {
	pub   ed25519.PublicKey
	opts  VerifyOptions
	files []string
	rep   Report

	started  bool
	expect   uint64 // next seq
	prev     string // hash of the last line
	prevFile string
	prevLine int
	since    int // lines since the last checkpoint
	every    int // interval of the last checkpoint, 0 before the first
}

// errStop ends the scan at the first problem.
var errStop = errors.New("stop")

func (v *verifier) fail(file string, line int, seq uint64, kind ProblemKind, format string, args ...any) error {
	v.rep.Problem = &Problem{File: file, Line: line, Seq: seq, Kind: kind, Detail: fmt.Sprintf(format, args...)}
	return errStop
}

func (v *verifier) run() error {
	for i, path := range v.files {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		v.rep.Files = append(v.rep.Files, FileSummary{Path: path})
		sum := &v.rep.Files[len(v.rep.Files)-1]
		var offset int64
		err = eachLine(f, func(line []byte, complete bool) error {
			sum.Lines++
			offset += int64(len(line)) + 1
			return v.line(i, sum, offset, line, complete)
		})
		f.Close()
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			v.fail(path, sum.Lines+1, 0, ProblemCorrupt, "%v", err)
			return nil
		}
	}
	if v.rep.Lines == 0 {
		v.fail(v.files[0], 0, 0, ProblemEmpty, "the log has no lines")
		return nil
	}
	v.rep.UnsignedTail = v.since
	if v.opts.Strict && v.since > 0 {
		v.fail(v.prevFile, v.prevLine, v.expect-1, ProblemUnsignedTail,
			"the last %d line(s) come after the last checkpoint and are not signed (strict mode)", v.since)
	}
	return nil
}

func (v *verifier) line(fileIdx int, sum *FileSummary, offset int64, line []byte, complete bool) error {
	path, n := sum.Path, sum.Lines
	if !complete {
		return v.fail(path, n, 0, ProblemTruncated, "the line is incomplete: the file was cut in the middle of it")
	}
	rec, err := parseRecord(line)
	if err != nil {
		return v.fail(path, n, 0, ProblemCorrupt, "%v (edited or damaged)", err)
	}
	if !v.started {
		v.started, v.expect, v.prev = true, 1, genesis
		if rec.Seq != 1 && v.opts.AllowPartial {
			v.expect, v.prev = rec.Seq, rec.Prev
		} else if rec.Seq != 1 {
			return v.fail(path, n, rec.Seq, ProblemBadStart,
				"the chain starts at seq %d, not 1: earlier lines or files are missing (pass all files, or allow a partial log)", rec.Seq)
		}
		v.rep.FirstSeq = rec.Seq
	}
	switch {
	case rec.Seq == v.expect && rec.Prev != v.prev:
		if v.prevLine == 0 {
			return v.fail(path, n, rec.Seq, ProblemEdited, "the first line's prev is not the genesis value")
		}
		return v.fail(v.prevFile, v.prevLine, rec.Seq-1, ProblemEdited,
			"this line was changed: its hash does not match the prev recorded in the next line (%s line %d), or that prev was changed",
			filepath.Base(path), n)
	case rec.Seq > v.expect:
		if n == 1 && fileIdx > 0 && !v.rep.Files[len(v.rep.Files)-2].EndsInCheckpoint {
			return v.fail(v.prevFile, v.prevLine+1, 0, ProblemTruncated,
				"the file ends at seq %d without the checkpoint that closes a rotated file; %s cut from its end",
				v.expect-1, seqRange(v.expect, rec.Seq-1))
		}
		if v.seqAppearsLater(fileIdx, offset, v.expect) {
			return v.fail(path, n, rec.Seq, ProblemReordered, "seq %d appears here, before seq %d: lines were moved", rec.Seq, v.expect)
		}
		return v.fail(path, n, rec.Seq, ProblemDeleted, "%s missing before this line: lines were deleted", seqRange(v.expect, rec.Seq-1))
	case rec.Seq < v.expect:
		return v.fail(path, n, rec.Seq, ProblemReordered, "seq %d appears after seq %d: lines were moved or duplicated", rec.Seq, v.expect-1)
	}
	if rec.Type == TypeCheckpoint {
		if why := checkCheckpoint(rec, v.pub); why != "" {
			return v.fail(path, n, rec.Seq, ProblemBadSignature, "%s", why)
		}
		if v.since > rec.Checkpoint.Every {
			return v.fail(path, n, rec.Seq, ProblemMissingCheckpoint,
				"%d lines since the previous checkpoint, more than the interval of %d: checkpoints were removed", v.since, rec.Checkpoint.Every)
		}
		v.since, v.every = 0, rec.Checkpoint.Every
		v.rep.Checkpoints++
		v.rep.LastCheckpointSeq = rec.Seq
	} else {
		v.since++
		if v.every > 0 && v.since > v.every {
			return v.fail(path, n, rec.Seq, ProblemMissingCheckpoint,
				"%d lines since the last checkpoint, more than the interval of %d: a checkpoint was removed or the lines were rewritten", v.since, v.every)
		}
	}
	v.expect, v.prev, v.prevFile, v.prevLine = rec.Seq+1, lineHash(line), path, n
	v.rep.Lines++
	v.rep.LastSeq = rec.Seq
	if sum.FirstSeq == 0 {
		sum.FirstSeq = rec.Seq
	}
	sum.LastSeq, sum.EndsInCheckpoint = rec.Seq, rec.Type == TypeCheckpoint
	return nil
}

// seqAppearsLater reports whether a line with seq want comes after offset
// in file fileIdx or in a later file; it tells a move from a deletion.
func (v *verifier) seqAppearsLater(fileIdx int, offset int64, want uint64) bool {
	for i := fileIdx; i < len(v.files); i++ {
		f, err := os.Open(v.files[i])
		if err != nil {
			return false
		}
		if i == fileIdx {
			f.Seek(offset, io.SeekStart)
		}
		found := errors.New("found")
		err = eachLine(f, func(line []byte, _ bool) error {
			if rec, err := parseRecord(line); err == nil && rec.Seq == want {
				return found
			}
			return nil
		})
		f.Close()
		if err == found {
			return true
		}
	}
	return false
}

func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d was", from)
	}
	return fmt.Sprintf("seq %d-%d were", from, to)
}
