// Package sessionlog records and audits sessions: it is the ingress Tracker. For each session
// channel it opens a recording (asciicast v2 or ttyrec) of everything the channel shows, a row in
// the store's session list, and audit entries at the start and the end; the end entry carries the
// recording's SHA-256.
//
// Invariants: a session whose recording cannot be opened is refused (Begin fails); the recording
// is named with the time, account, target and an unguessable id, 0600, under a 0700 directory;
// the session row and the audit entries share the recording's id (uniqid).
package sessionlog

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
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/crash"
	"gatehouse/internal/egress"
	"gatehouse/internal/ingress"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/record"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// Auditor appends audit events.
type Auditor interface {
	Append(ev audit.Event) error
}

// Policy is how sessions are recorded; the configuration gives it, a reload changes it for the
// sessions that start after.
type Policy struct {
	Format record.Format
	// Stealth, when it matches a connection's remote command (see record.StealthMatch), keeps its
	// output out of the recording (The Bastion's ttyrecStealthStdoutPattern, for rsync and other
	// bulk transfers). The session is audited and listed as stealth.
	Stealth *regexp.Regexp
	// MaxBytes caps each recording (recordingMaxBytes; 0: no cap).
	MaxBytes int64
	// TransferContent records a file transfer's bytes (transferRecording = "full"); by
	// default a transfer's recording keeps a marker only, its audit the files and hashes.
	TransferContent bool
}

// Tracker implements ingress.Tracker.
type Tracker struct {
	Store  store.SessionRecords
	Audit  Auditor
	Dir    string // recordings root; one 0700 folder per account below it
	Policy func() Policy
	Log    *slog.Logger
	Now    func() time.Time
	// OnRecordingBytes, OnRecordingError and OnRecordingLimit feed metrics (may be nil).
	OnRecordingBytes func(n int64)
	OnRecordingError func()
	OnRecordingLimit func()
	// EndSession, when set, ends a running session (the registry of internal/running): a
	// session whose recording fails is ended at once, not at its next output.
	EndSession func(accountID, sessionID, reason string, exit int) bool
	// Admit, when set, is asked before a session opens its recording; an error refuses the
	// session (the archive's disk budget: fail closed before the local disk fills).
	Admit func() error
	// OnClosed, when set, is told of each recording once closed and its SHA-256 audited (the
	// archive ships it).
	OnClosed func(path, sha256 string, size int64)
	// Compact, when set, lets gatehouse recordings store streaming text as is within its budget
	// (record.Deferral) and compacts each closed one that did, on idle CPU (compress at rest:
	// docs/recording.md). It is told of the file before OnClosed, which then waits for it.
	Compact *record.Compactor

	// create opens a recording (record.Create when nil; a test's recorder otherwise).
	create func(dir, name string, opts record.Options) (record.Recorder, string, error)
	// retryTick, when set, paces the writes of a session's end again (tests); a ticker of
	// endRetryEvery otherwise.
	retryTick <-chan time.Time
}

var _ ingress.Tracker = (*Tracker)(nil)

// Begin opens the recording and the session row for the parsed line; ingress wraps the
// session's writers with the track's recorder. It writes nothing into the session.
func (t *Tracker) Begin(ctx context.Context, s *session.Session, ln session.Line) (ingress.SessionTrack, error) {
	now := t.Now()
	id := record.NewID()
	// A jump's SFTP audit names the session it follows (uniqid), as the plain path's does.
	egress.NoteSession(ctx, id)
	req, line := ln.Request, ln.Raw // a bad line is refused later by the dispatcher; record it anyway
	kind, host, user, port, plugin := req.Kind(), "", "", 0, ""
	switch kind {
	case "osh":
		host, plugin = req.Osh, req.Osh
	case "ssh":
		host, user, port = req.Host, req.User, req.Port
	}
	if t.Admit != nil {
		if err := t.Admit(); err != nil {
			return nil, err
		}
	}
	pol := t.Policy()
	name, err := record.FileName(record.NameParts{Start: now, ID: id, Account: s.Account.Name, User: user, Host: host, Port: port, Format: pol.Format})
	if err != nil {
		return nil, err
	}
	// Only a connection's remote command may be stealth; a shell or an --osh command never is.
	stealth := req.HasTarget() && record.StealthMatch(pol.Stealth, req.Command())
	// A file transfer keeps metadata and hashes only unless asked (transferRecording): a 10 GB
	// copy is not a 10 GB recording. Only a command the shell passes through as plain words
	// counts (record.StealthSafe): `scp -t /x; id` is recorded whole.
	recCommand := req.Command()
	if sub := subsystemOf(ctx, req); sub != "" && recCommand == "" {
		recCommand = "subsystem " + sub
	}
	isTransfer := req.HasTarget() && record.StealthSafe(recCommand) && access.IsTransfer(req.Command(), subsystemOf(ctx, req))
	transfer := isTransfer && !pol.TransferContent
	// transferRecording = "full": the uploaded bytes are kept too, as the recording's input
	// stream (a transfer has no terminal, so nothing typed at a prompt is caught with them).
	// ttyrec holds no input: it keeps the downloads only.
	recordInput := isTransfer && pol.TransferContent && pol.Format != record.Ttyrec
	stealth = stealth || transfer
	// The audit and the row keep a connection's words whole (audit.SessionParams); the
	// recording's title is only a label for players, and may be cut.
	params := audit.SessionParams(wordsOrRaw(ln), req.HasTarget())
	tr := &track{t: t, start: now, stealth: stealth, transfer: transfer, recordInput: recordInput, id: id, account: s.Account.Name}
	cols, rows := s.Cols, s.Rows
	opts := record.Options{Format: pol.Format, Cols: cols, Rows: rows, Term: s.Term, Title: fmt.Sprintf("%s: %s", s.Account.Name, title(kind, line)),
		Command: req.Command(), Now: t.Now, MaxBytes: pol.MaxBytes, OnLimit: tr.limitReached, OnError: tr.recordingFailed, RecordInput: recordInput}
	if t.Compact != nil {
		opts.Defer = t.Compact.Defer
	}
	tr.stderr, tr.accountID, tr.endOnFailure = s.RawErr, s.Account.ID, req.HasTarget()
	if stealth {
		opts.StealthStdout = pol.Stealth
	}
	if transfer {
		opts.Command = recCommand
		opts.StealthStdout = regexp.MustCompile(regexp.QuoteMeta(recCommand))
	}
	dir := filepath.Join(t.Dir, s.Account.Name)
	// The path is set before the recorder exists: its worker may call recordingFailed (which
	// reads it) as soon as Create returns, with nothing ordering that read after a write here.
	tr.path = filepath.Join(dir, name)
	create := t.create
	if create == nil {
		create = record.Create
	}
	rec, path, err := create(dir, name, opts)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	if path != tr.path {
		_, _, _ = rec.Close() // never written to: refused before anything runs
		return nil, fmt.Errorf("open recording: created at %q, not %q", path, tr.path)
	}
	tr.rec = rec
	tr.row = store.Session{ID: id, Account: s.Account.Name, AccountID: s.Account.ID, Kind: kind, Plugin: plugin, Params: strings.Join(params, " "),
		IPFrom: netaddr.IP(s.RemoteAddr), PortFrom: netaddr.Port(s.RemoteAddr), IPBastion: netaddr.IP(s.LocalAddr), PortBastion: netaddr.Port(s.LocalAddr),
		User: user, Host: req.Host, PortTo: port, StartedAt: now, Status: "open", Recording: path, Comment: tr.comment("")}
	if err := t.Store.OpenSession(ctx, tr.row); err != nil {
		_, _, _ = rec.Close() // the session is refused; the partial recording stays as evidence
		return nil, fmt.Errorf("record the session in the store: %w", err)
	}
	if err := t.Audit.Append(audit.Event{Time: now, Type: "session.open", Fields: audit.Fields{
		UniqID: id, Account: s.Account.Name, CmdType: kind, IPFrom: tr.row.IPFrom, PortFrom: tr.row.PortFrom,
		IPBastion: tr.row.IPBastion, PortBastion: tr.row.PortBastion, User: user, HostTo: req.Host, PortTo: port, Plugin: plugin,
		Params: params, RecordingID: id, Stealth: stealth, Extra: netaddr.ViaFields(s.RemoteAddr)}}); err != nil {
		// The audit log refuses: nothing runs that cannot be audited.
		_, _, _ = rec.Close() // the session is refused; the partial recording stays as evidence
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return tr, nil
}

func title(kind, line string) string {
	if len(line) > 80 {
		line = line[:80] + "…"
	}
	if line == "" {
		return kind
	}
	return line
}

func wordsOrRaw(ln session.Line) []string {
	if ln.Words != nil {
		return ln.Words
	}
	return []string{ln.Raw}
}

type track struct {
	paused  atomic.Bool
	limited atomic.Bool // the recording reached its size cap
	// failed: the recording could not be written (a full disk…); the session's streams then
	// fail, so it ends rather than go on unrecorded. stderr tells the user why.
	failed    atomic.Bool
	stderr    io.Writer
	accountID string
	// endOnFailure: a session relayed to a target (its recording is the only evidence of what
	// the target showed) ends when its recording fails. The bastion's own commands keep the
	// full-disk rules of the audit log: read-only ones answer, changes are refused.
	endOnFailure bool
	stealth      bool
	id           string
	account      string
	t            *Tracker
	rec          record.Recorder
	path         string
	row          store.Session
	start        time.Time
	mu           sync.Mutex
	n            int64

	// transfer: a file transfer whose content is not recorded (transferRecording = "metadata").
	transfer bool
	// recordInput: a file transfer recorded whole (transferRecording = "full"), uploads too.
	recordInput bool
}

// Comments on the session row: its list shows them.
const (
	stealthComment = "output not recorded (stealth)"
	limitComment   = "recording stopped at recordingMaxBytes; the session went on"
	// failedComment is also what the user is told, and the registry's reason for ending it.
	failedComment = "This session cannot be recorded any more (the bastion's disk may be full); please tell the bastion administrators"
)

// errRecordingFailed is what the session's streams return once its recording has failed.
var errRecordingFailed = errors.New("the recording of this session cannot be written")

// recordingFailed runs once, off the session's path, when the recording cannot be written (a
// full disk, the file replaced). A session relayed to a target must not go on unrecorded (fail
// closed): it is ended, told why, and its streams fail from now on. The bastion's own session
// goes on under the audit log's full-disk rules. The audit log (if it can still be written) and
// the log say so at once.
func (tr *track) recordingFailed(err error) {
	t := tr.t
	what := "the recording could not be written; the bastion's own session went on (its commands are audited)"
	if tr.endOnFailure {
		what = "the recording could not be written; the session was ended"
		// Failed first: the streams refuse more bytes at once. Then the session is ended, even
		// an idle one, the reason first. With a registry (EndSession), the session's owner
		// tells the user: here when it runs, and otherwise when it registers or when its relay,
		// whose stream failed, ends first (RecordingFailure); the reason is written before its
		// channel closes. Without one, it is told here. Both write to the client, which may not
		// be reading: on a goroutine of their own, since this runs on the recorder's worker
		// (OnError must not block).
		tr.failed.Store(true)
		go func() {
			defer crash.Recover(func(p *crash.Panic) {
				t.Log.Error("panic while ending an unrecordable session", "id", tr.id, "panic", p)
			})
			if t.EndSession != nil {
				t.EndSession(tr.accountID, tr.id, failedComment, refusal.ExitPluginFailed)
			} else if tr.stderr != nil {
				_, _ = io.WriteString(tr.stderr, "\r\n*** "+failedComment+": this session is closed. ***\r\n")
			}
		}()
	}
	t.Log.Error("recording failed", "id", tr.id, "account", tr.account, "path", tr.path, "err", err, "outcome", what)
	if aerr := t.Audit.Append(audit.Event{Type: "recording.failed", Fields: audit.Fields{UniqID: tr.id, Account: tr.account,
		RecordingID: tr.id, RecordingTruncated: true, Comment: what + ": " + err.Error()}}); aerr != nil {
		t.Log.Error("cannot write the recording failure to the audit log", "id", tr.id, "err", aerr)
	}
}

// RecordingFailure says whether the session must end because its recording failed (a relayed
// session), with the reason to tell the user and the exit status (ingress.RecordingFailure).
func (tr *track) RecordingFailure() (reason string, exit int, failed bool) {
	if !tr.endOnFailure || !tr.failed.Load() {
		return "", 0, false
	}
	return failedComment, refusal.ExitPluginFailed, true
}

// transferComment is the row's comment of a transfer whose content is not recorded.
const transferComment = "file transfer: content not recorded (metadata and hashes in the audit)"

// comment joins what the row's comment says about the recording to the session's own.
func (tr *track) comment(own string) string {
	parts := []string{}
	for _, p := range []string{own, cond(tr.stealth && !tr.transfer, stealthComment), cond(tr.transfer, transferComment), cond(tr.limited.Load(), limitComment), cond(tr.failed.Load() && !strings.Contains(own, failedComment), failedComment)} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

func cond(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

// limitReached runs once, on the recorder's worker, when the recording reaches its cap: the
// audit log says so at once (the session may go on for long), the log and a metric too.
func (tr *track) limitReached() {
	tr.limited.Store(true)
	t := tr.t
	t.Log.Warn("recording size limit reached; the session goes on unrecorded", "id", tr.id, "account", tr.account, "path", tr.path)
	if t.OnRecordingLimit != nil {
		t.OnRecordingLimit()
	}
	if err := t.Audit.Append(audit.Event{Type: "recording.limit", Fields: audit.Fields{UniqID: tr.id, Account: tr.account,
		RecordingID: tr.id, RecordingTruncated: true, Comment: limitComment}}); err != nil {
		t.Log.Error("cannot write the recording limit to the audit log", "id", tr.id, "err", err)
	}
}

// recWriter feeds the recorder; it fails the user's stream only once the recording has
// failed (recordingFailed), never because it is slow.
type recWriter struct{ tr *track }

func (w *recWriter) Write(p []byte) (int, error) {
	if w.tr.failed.Load() {
		return 0, errRecordingFailed
	}
	if w.tr.paused.Load() {
		return len(p), nil
	}
	w.tr.rec.Output(p)
	w.count(len(p))
	return len(p), nil
}

// ownedOutput is a recorder that may take output without copying it (record's OutputOwned).
type ownedOutput interface {
	OutputOwned(p []byte) []byte
}

// WriteOwned is Write for a relay that hands its buffer over (egress.OwnedWriter): the recorder
// keeps p rather than copy it, and gives back a buffer for the relay's next read (nil: none).
func (w *recWriter) WriteOwned(p []byte) ([]byte, error) {
	rec, ok := w.tr.rec.(ownedOutput)
	if !ok || w.tr.failed.Load() || w.tr.paused.Load() {
		_, err := w.Write(p) // nothing kept: the caller reads on into p
		return p, err
	}
	next := rec.OutputOwned(p)
	w.count(len(p))
	return next, nil
}

// count adds n bytes recorded to the row's size and the metric.
func (w *recWriter) count(n int) {
	w.tr.mu.Lock()
	w.tr.n += int64(n)
	w.tr.mu.Unlock()
	if w.tr.t.OnRecordingBytes != nil {
		w.tr.t.OnRecordingBytes(int64(n))
	}
}

// inputWriter feeds the recorder's input stream; it never fails the user's stream.
type inputWriter struct{ tr *track }

func (w *inputWriter) Write(p []byte) (int, error) {
	if w.tr.failed.Load() {
		return 0, errRecordingFailed
	}
	w.tr.rec.Input(p)
	w.tr.mu.Lock()
	w.tr.n += int64(len(p))
	w.tr.mu.Unlock()
	if w.tr.t.OnRecordingBytes != nil {
		w.tr.t.OnRecordingBytes(int64(len(p)))
	}
	return len(p), nil
}

// InputRecorder receives what the client sends, when the recording keeps it: a file transfer
// under transferRecording = "full" (its uploads); nil otherwise (input is never recorded).
func (tr *track) InputRecorder() io.Writer {
	if !tr.recordInput {
		return nil
	}
	return &inputWriter{tr: tr}
}

func (tr *track) Resize(cols, rows int) { tr.rec.Resize(cols, rows) }

// ID is the session's id: its recording, its row, its audit entries.
func (tr *track) ID() string { return tr.id }

// Recorder receives a copy of what the session shows; it never fails the user's stream.
func (tr *track) Recorder() io.Writer { return &recWriter{tr: tr} }

// Pause keeps what a command shows out of the recording (it holds a secret), with a marker.
func (tr *track) Pause(paused bool) {
	if paused && !tr.paused.Load() {
		tr.rec.Output([]byte("\r\n[gatehouse: the output of this command holds a secret and is not recorded]\r\n"))
	}
	tr.paused.Store(paused)
}

// End closes the recording and completes the row and the audit log.
func (tr *track) End(ctx context.Context, s *session.Session, o session.Outcome, exitStatus int) {
	t := tr.t
	now := t.Now()
	sum, size, rerr := tr.rec.Close()
	if rerr != nil {
		t.Log.Error("recording incomplete", "id", tr.id, "path", tr.path, "err", rerr)
		if t.OnRecordingError != nil {
			t.OnRecordingError()
		}
	}
	if o.Kind == "" {
		o.Kind = tr.row.Kind
	}
	closeRow := func() error {
		return t.Store.CloseSession(ctx, tr.id, func(r *store.Session) {
			r.EndedAt, r.ExitStatus, r.Status, r.SHA256, r.Size = now, exitStatus, "closed", sum, size
			r.Allowed, r.Plugin, r.User, r.Host, r.IPTo, r.PortTo = o.Allowed, o.Plugin, o.User, o.Host, o.IPTo, o.PortTo
			r.BytesIn, r.BytesOut, r.Comment = o.BytesIn, o.BytesOut, tr.comment(o.Comment)
			if o.Kind != "" {
				r.Kind = o.Kind
			}
		})
	}
	rowErr := closeRow()
	if rowErr != nil {
		t.Log.Error("cannot complete the session row", "id", tr.id, "err", rowErr)
	}
	f := audit.Fields{UniqID: tr.id, Account: s.Account.Name, CmdType: o.Kind, Allowed: audit.Bool(o.Allowed),
		IPFrom: tr.row.IPFrom, PortFrom: tr.row.PortFrom, IPBastion: tr.row.IPBastion, PortBastion: tr.row.PortBastion,
		User: o.User, HostTo: o.Host, IPTo: o.IPTo, PortTo: o.PortTo, Plugin: o.Plugin, ExitStatus: audit.Int(exitStatus),
		Duration: now.Sub(tr.start).Seconds(), BytesIn: o.BytesIn, BytesOut: o.BytesOut,
		RecordingID: tr.id, RecordingSHA256: sum, RecordingSize: size, Comment: o.Comment,
		Stealth: tr.stealth, RecordingTruncated: tr.limited.Load(), Extra: netaddr.ViaFields(s.RemoteAddr)}
	appendClose := func() error { return t.Audit.Append(audit.Event{Time: now, Type: "session.close", Fields: f}) }
	auditErr := appendClose()
	if auditErr != nil {
		t.Log.Error("cannot write the session end to the audit log", "id", tr.id, "err", auditErr)
	}
	closed := func(written bool) {
		tr.queueCompaction(sum, size, rerr, written)
		if t.OnClosed != nil && rerr == nil {
			t.OnClosed(tr.path, sum, size)
		}
	}
	if rowErr != nil || auditErr != nil {
		// A full disk (or a store that is away) must not leave the session "running" in the
		// listings, nor its end out of the audit log: both are written again once they can be.
		// The compaction waits for them: its `recording.compacted` chains the hash the
		// session.close gives, and must come after it in the audit log.
		var todo []func() error
		if rowErr != nil {
			todo = append(todo, closeRow)
		}
		if auditErr != nil {
			todo = append(todo, appendClose)
		}
		go t.finishLater(tr.id, todo, closed)
		return
	}
	closed(true)
}

// queueCompaction hands a closed recording that stored output as is to the compactor, once its
// close (row and audit event) is written; a failed recording, or one whose close could not be
// written, is kept as it is (its deferred bytes are given back; a row left open is queued by the
// next start's Interrupted, with the hash its session.interrupted event gives).
func (tr *track) queueCompaction(sum string, size int64, rerr error, written bool) {
	c := tr.t.Compact
	if c == nil {
		return
	}
	n := record.DeferredBytes(tr.rec)
	if n == 0 {
		return
	}
	if rerr != nil || !written {
		c.Defer.Release(n)
		return
	}
	if err := c.Enqueue(record.CompactJob{ID: tr.id, Path: tr.path, SHA256: sum, Size: size, Deferred: n}); err != nil {
		tr.t.Log.Error("recording not queued for compaction; it stays as it is", "id", tr.id, "path", tr.path, "err", err)
	}
}

// endRetries and endRetryEvery bound how long a session's end (its row, its audit event) is
// written again after a failure: 10 minutes, then the next start marks the row interrupted.
const (
	endRetries    = 600
	endRetryEvery = time.Second
)

// finishLater runs each of todo again, every endRetryEvery, until it succeeds or endRetries ran;
// then done is told whether all were written.
func (t *Tracker) finishLater(id string, todo []func() error, done func(written bool)) {
	next := t.retryTick
	if next == nil {
		tick := time.NewTicker(endRetryEvery)
		defer tick.Stop()
		next = tick.C
	}
	for try := 0; try < endRetries && len(todo) > 0; try++ {
		<-next
		left := todo[:0]
		for _, f := range todo {
			var err error
			if pn := crash.Catch(func() { err = f() }); pn != nil {
				t.Log.Error("panic while writing a session's end again", "id", id, "panic", pn)
				continue // not tried again: the same panic would come back
			}
			if err != nil {
				left = append(left, f)
			}
		}
		todo = left
	}
	if len(todo) > 0 {
		t.Log.Error("the session's end could not be written", "id", id, "left", len(todo))
		done(false)
		return
	}
	t.Log.Info("the session's end was written after a failure", "id", id)
	done(true)
}

// Interrupted marks the sessions a dead gatehouse left open, in the store and the audit log.
func (t *Tracker) Interrupted(ctx context.Context) error {
	open, err := t.Store.MarkInterrupted(ctx, t.Now())
	if err != nil {
		return err
	}
	for _, s := range open {
		sum, size := hashFile(s.Recording)
		// A failed append is logged; the other interrupted sessions are still audited.
		if err := t.Audit.Append(audit.Event{Type: "session.interrupted", Fields: audit.Fields{UniqID: s.ID, Account: s.Account,
			CmdType: s.Kind, HostTo: s.Host, PortTo: s.PortTo, RecordingID: s.ID, RecordingSHA256: sum, RecordingSize: size,
			Comment: "gatehouse stopped during the session; the recording holds what was shown until then"}}); err != nil {
			t.Log.Error("cannot write an interrupted session to the audit log", "id", s.ID, "err", err)
			// Not queued for compaction: a `recording.compacted` would chain a hash no event
			// of the audit log gives. The file stays as it is.
			continue
		}
		t.compactInterrupted(s, sum, size)
	}
	return nil
}

// compactInterrupted queues the recording of a session a dead gatehouse left, if it is a
// gatehouse recording: it may hold output stored as is (its torn last chunk stays as it is).
func (t *Tracker) compactInterrupted(s store.Session, sum string, size int64) {
	if t.Compact == nil || sum == "" || filepath.Ext(s.Recording) != "."+record.Gatehouse.Ext() {
		return
	}
	if err := t.Compact.Enqueue(record.CompactJob{ID: s.ID, Path: s.Recording, SHA256: sum, Size: size}); err != nil {
		t.Log.Error("an interrupted session's recording is not queued for compaction; it stays as it is", "id", s.ID, "err", err)
	}
}

// hashFile returns the SHA-256 and size of what a recording holds ("" when unreadable).
func hashFile(path string) (string, int64) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0
	}
	defer func() { _ = f.Close() }() // read only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// subsystemOf is the subsystem a session asks of its target: The Bastion's `--osh sftp` line
// says it, a jump's sftp request puts it in the context (egress.WithSubsystem).
func subsystemOf(ctx context.Context, req session.Request) string {
	if req.Subsystem != "" {
		return req.Subsystem
	}
	return egress.SubsystemFrom(ctx)
}
