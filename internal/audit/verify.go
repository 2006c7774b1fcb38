package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrBroken is wrapped by the error Verify returns when the log fails
// verification; the Report's Problem says where and why.
var ErrBroken = errors.New("audit: log verification failed")

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Strict requires a complete log: it must end with its shutdown
	// checkpoint, with no unsigned line and no incomplete line at the end.
	// A log that ends with its shutdown checkpoint is held to it anyway; a
	// log that gatehouse is still writing, or that a crash interrupted, is
	// not closed: without Strict its unsigned or cut end is a note.
	Strict bool
	// Anchors are signed checkpoints seen outside the log (the syslog copy,
	// see ParseSyslogAnchors): the log must hold each, with the same hash.
	// They reveal a log cut back to an earlier point.
	Anchors []Anchor
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
	ProblemNotClosed         ProblemKind = "not-closed"         // strict mode only: no shutdown checkpoint at the end
	ProblemAfterClose        ProblemKind = "after-close"        // lines after a shutdown checkpoint without a signed start
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
	// CutTail counts the bytes of an incomplete last line (a crash in the
	// middle of a write, or a cut file).
	CutTail int64
	// Closed says the log ends with its shutdown checkpoint.
	Closed bool
	// Strict says the strict rules applied: asked for, or the log is closed.
	Strict bool
	// Starts counts the runs of gatehouse (start checkpoints), Recoveries
	// the resumptions after a write failure.
	Starts, Recoveries int
	// AnchorsChecked counts the outside anchors found in the log.
	AnchorsChecked int
	// Notes explain what verified but deserves a look: crashes, lines set
	// aside, an end that is not closed.
	Notes []string
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
	if r.Closed {
		b.WriteString("  the log is closed: it ends with its signed shutdown checkpoint (checked strictly)\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
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
	v := &verifier{pub: pub, opts: opts, files: files, rep: Report{KeyID: KeyID(pub), Strict: opts.Strict}, anchors: map[uint64]Anchor{}}
	for _, a := range opts.Anchors {
		v.anchors[a.Seq] = a
	}
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
	since    int    // lines since the last checkpoint
	every    int    // interval of the last checkpoint, 0 before the first
	lastKind string // kind of the previous line when it is a checkpoint, "-" when it is not
	anchors  map[uint64]Anchor
	cutTail  bool // the last line read is incomplete
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
		_ = f.Close() // read only: the scan result is what matters
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			_ = v.fail(path, sum.Lines+1, 0, ProblemCorrupt, "%v", err)
			return nil
		}
	}
	if v.rep.Lines == 0 {
		_ = v.fail(v.files[0], 0, 0, ProblemEmpty, "the log has no lines")
		return nil
	}
	v.rep.UnsignedTail = v.since
	v.rep.Closed = v.lastKind == KindShutdown && !v.cutTail
	v.rep.Strict = v.opts.Strict || v.rep.Closed
	var beyond *Anchor
	for i, a := range v.opts.Anchors {
		if a.Seq > v.rep.LastSeq && (beyond == nil || a.Seq > beyond.Seq) {
			beyond = &v.opts.Anchors[i]
		}
	}
	if beyond != nil {
		_ = v.fail(v.prevFile, v.prevLine, v.rep.LastSeq, ProblemTruncated,
			"%s saw a signed checkpoint at seq %d but the log ends at seq %d: lines were cut from the end", cmpOr(beyond.Source, "an outside record"), beyond.Seq, v.rep.LastSeq)
		return nil
	}
	switch {
	case v.rep.Strict && v.cutTail:
		_ = v.fail(v.prevFile, v.prevLine+1, 0, ProblemTruncated, "the last line is incomplete (%d bytes): the file was cut in the middle of it (strict mode)", v.rep.CutTail)
	case v.rep.Strict && v.since > 0:
		_ = v.fail(v.prevFile, v.prevLine, v.expect-1, ProblemUnsignedTail,
			"the last %d line(s) come after the last checkpoint and are not signed (strict mode)", v.since)
	case v.rep.Strict && !v.rep.Closed:
		_ = v.fail(v.prevFile, v.prevLine, v.expect-1, ProblemNotClosed,
			"the log does not end with its shutdown checkpoint: gatehouse is running, crashed, or lines were cut from the end (strict mode)")
	case !v.rep.Closed:
		n := "the log is not closed (it does not end with a shutdown checkpoint): gatehouse is running, or stopped without closing it (a crash), or lines were cut from its end. If gatehouse was stopped cleanly, treat it as a truncation"
		if len(v.opts.Anchors) == 0 {
			n += "; compare the end (seq " + strconv.FormatUint(v.rep.LastSeq, 10) + ") with the syslog copy (--syslog FILE)"
		}
		v.rep.Notes = append(v.rep.Notes, n)
		if v.since > 0 {
			v.rep.Notes = append(v.rep.Notes, fmt.Sprintf("the last %d line(s) come after the last checkpoint and are not signed yet: only the hash chain protects them", v.since))
		}
		if v.cutTail {
			v.rep.Notes = append(v.rep.Notes, fmt.Sprintf("the last line is incomplete (%d bytes), as a crash in the middle of a write leaves it; gatehouse sets it aside at its next start", v.rep.CutTail))
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (v *verifier) line(fileIdx int, sum *FileSummary, offset int64, line []byte, complete bool) error {
	path, n := sum.Path, sum.Lines
	if !complete {
		if fileIdx == len(v.files)-1 {
			// The end of the last file: what a crash in the middle of a
			// write leaves. run decides (a note, or a failure when strict).
			v.cutTail, v.rep.CutTail = true, int64(len(line))
			sum.Lines--
			return nil
		}
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
	kind := "-"
	if rec.Type == TypeCheckpoint {
		kind = rec.Checkpoint.Kind
	}
	if v.lastKind == KindShutdown && kind != KindStart {
		return v.fail(path, n, rec.Seq, ProblemAfterClose,
			"this line follows the shutdown checkpoint of seq %d without a signed start: lines were appended to a closed log", rec.Seq-1)
	}
	if rec.Type == TypeCheckpoint {
		c := rec.Checkpoint
		if why := checkCheckpoint(rec, v.pub); why != "" {
			return v.fail(path, n, rec.Seq, ProblemBadSignature, "%s", why)
		}
		// The lines before a checkpoint were written under the interval in
		// force then: the previous checkpoint's (a start may change it).
		limit := v.every
		if limit == 0 {
			limit = c.Every
		}
		if v.since > limit {
			return v.fail(path, n, rec.Seq, ProblemMissingCheckpoint,
				"%d lines since the previous checkpoint, more than the interval of %d: checkpoints were removed", v.since, limit)
		}
		if r := c.Resume; r != nil {
			if v.prevLine > 0 && r.PrevClosed != (v.lastKind == KindShutdown) {
				return v.fail(path, n, rec.Seq, ProblemBadSignature, "the start does not describe the end before it (closed %v)", r.PrevClosed)
			}
			v.resumeNotes(rec)
		}
		v.since, v.every = 0, c.Every
		v.rep.Checkpoints++
		v.rep.LastCheckpointSeq = rec.Seq
	} else {
		v.since++
		if v.every > 0 && v.since > v.every {
			return v.fail(path, n, rec.Seq, ProblemMissingCheckpoint,
				"%d lines since the last checkpoint, more than the interval of %d: a checkpoint was removed or the lines were rewritten", v.since, v.every)
		}
	}
	if a, ok := v.anchors[rec.Seq]; ok {
		if a.Hash != lineHash(line) {
			return v.fail(path, n, rec.Seq, ProblemEdited,
				"%s saw a signed checkpoint with another hash at seq %d: the log was rewritten from here or before", cmpOr(a.Source, "an outside record"), rec.Seq)
		}
		v.rep.AnchorsChecked++
	}
	v.lastKind = kind
	v.expect, v.prev, v.prevFile, v.prevLine = rec.Seq+1, lineHash(line), path, n
	v.rep.Lines++
	v.rep.LastSeq = rec.Seq
	if sum.FirstSeq == 0 {
		sum.FirstSeq = rec.Seq
	}
	sum.LastSeq, sum.EndsInCheckpoint = rec.Seq, rec.Type == TypeCheckpoint
	return nil
}

// resumeNotes explains a start or recover checkpoint in the report.
func (v *verifier) resumeNotes(rec record) {
	c, r := rec.Checkpoint, rec.Checkpoint.Resume
	if c.Kind == KindStart {
		v.rep.Starts++
	} else {
		v.rep.Recoveries++
	}
	switch {
	case c.Kind == KindRecover:
		v.rep.Notes = append(v.rep.Notes, fmt.Sprintf("seq %d: the log resumed after a write failure (%s)", rec.Seq, r.Reason))
	case r.PrevSeq > 0 && !r.PrevClosed:
		v.rep.Notes = append(v.rep.Notes, fmt.Sprintf("seq %d: gatehouse started after a run that did not close the log (a crash, or a cut end); %d unsigned line(s) before it are signed from here", rec.Seq, r.Unsigned))
	}
	for _, x := range r.Cut {
		saved := "not saved"
		if x.SavedAs != "" {
			saved = "saved as " + x.SavedAs
		}
		v.rep.Notes = append(v.rep.Notes, fmt.Sprintf("seq %d: an incomplete line of %d byte(s) (sha256 %s) was cut from %s at offset %d, %s", rec.Seq, x.Bytes, x.SHA256, x.File, x.Offset, saved))
	}
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
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				_ = f.Close() // read only
				return false
			}
		}
		found := errors.New("found")
		err = eachLine(f, func(line []byte, _ bool) error {
			if rec, err := parseRecord(line); err == nil && rec.Seq == want {
				return found
			}
			return nil
		})
		_ = f.Close() // read only
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
