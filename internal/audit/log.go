package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SyncPolicy says when the log file is fsynced. Every line is handed to
// the kernel with one write(2) as it is appended (no user-space buffer),
// so a crash of gatehouse loses nothing; the policy only decides what a
// power loss or kernel crash can lose.
type SyncPolicy int

const (
	// SyncCheckpoint (the default) fsyncs at each checkpoint, rotation and
	// Close: a power loss loses at most CheckpointEvery lines, which were
	// unsigned anyway.
	SyncCheckpoint SyncPolicy = iota
	// SyncEveryLine fsyncs after every line: nothing acknowledged is ever
	// lost, at the cost of one fsync per event (see the benchmarks).
	SyncEveryLine
)

// File is what the log needs of an open log file. *os.File implements it;
// tests wrap it to inject write failures (a full disk: ENOSPC for a while).
type File interface {
	Write(p []byte) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// Options configure a Log.
type Options struct {
	// Dir holds the log files; created 0700 if missing, refused if group
	// or others can enter it.
	Dir string
	// Key signs checkpoints. Required.
	Key ed25519.PrivateKey
	// CheckpointEvery is the number of lines between checkpoints; 0 means 1000.
	CheckpointEvery int
	// MaxFileBytes starts a new file once a file reaches this size; 0 means 64 MiB.
	MaxFileBytes int64
	Sync         SyncPolicy
	// Sinks get every appended event (syslog …), and an audit.checkpoint
	// event for each signed checkpoint.
	Sinks []Sink
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports sink failures; nil means slog.Default().
	Logger *slog.Logger
	// OpenFile opens log files; nil means os.OpenFile. Tests inject faults.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
	// OnFailure is told when the log stops accepting appends (a write
	// failed), OnRecover when it accepts them again; both may be nil. They
	// are called without the log's lock held.
	OnFailure func(err error)
	OnRecover func(what string)
	// Node, when set, names the node writing this log (several nodes, each its own chain): it
	// goes into every audit.start event, signed by the chain, so a chain copied under another
	// node's name in the archive is detected.
	Node string
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// maxLineBytes bounds one line, for the writer and the readers.
const maxLineBytes = 1 << 20

// maxCutBytes bounds what resuming sets aside as an incomplete last line.
// More than one line's worth is not a crash artefact: Open refuses it.
const maxCutBytes = maxLineBytes + 1

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts  Options
	keyID string
	log   *slog.Logger

	mu       sync.Mutex
	f        File   // nil between a rotation and the next line
	fname    string // base name of f
	size     int64  // bytes of complete lines in f
	seq      uint64 // seq of the last line written
	prev     string // hash of the last line written
	since    int    // lines since the last checkpoint
	lastCkpt bool   // the last line written is a checkpoint
	closed   bool
	err      error  // sticky write failure; cleared by a recovery
	fatal    bool   // err cannot be recovered from by gatehouse (the file was cut under it)
	reason   string // the write error that started the current failure
	cuts     []cut  // set aside, waiting to be recorded by a recover checkpoint

	failures atomic.Uint64 // Appends that failed
}

// effects are what a locked operation leaves to do once the lock is
// released: sink events in order and a health change to report.
type effects struct {
	emit      []Event
	failed    error
	recovered string
}

var fileNameRE = regexp.MustCompile(`^audit-[0-9]{20}\.jsonl$`)

func fileName(firstSeq uint64) string { return fmt.Sprintf("audit-%020d.jsonl", firstSeq) }

// Files lists the log files in dir in chain order.
func Files(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list log directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && fileNameRE.MatchString(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// Open opens the log in opts.Dir, resuming it if it exists: the last file
// is read back, its chain and checkpoints checked, an incomplete last line
// (a crash in the middle of a write) set aside, and appending continues the
// chain. It then writes a signed start checkpoint that commits to the
// previous end and records what was set aside, and an audit.start event.
// A last file that is otherwise damaged (a broken link, a bad signature) is
// refused: run `gatehouse audit verify` and move the damaged file aside.
func Open(opts Options) (*Log, error) {
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: an ed25519 signing key is required")
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 1000
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 64 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OpenFile == nil {
		opts.OpenFile = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	l := &Log{opts: opts, keyID: KeyID(opts.Key.Public().(ed25519.PublicKey)), log: opts.Logger, prev: genesis}
	if l.log == nil {
		l.log = slog.Default()
	}
	if err := ensurePrivateDir(opts.Dir); err != nil {
		return nil, err
	}
	files, err := Files(opts.Dir)
	if err != nil {
		return nil, err
	}
	resumed := len(files) > 0
	info := &resumeInfo{PrevHash: genesis}
	if resumed {
		if info, err = l.resume(files); err != nil {
			_ = l.closeFile() // the resume error is the one to report
			return nil, err
		}
	}
	var fx effects
	l.mu.Lock()
	err = l.writeCheckpoint(KindStart, info, &fx)
	l.mu.Unlock()
	if err != nil {
		_ = l.closeFile() // the open error is the one to report
		return nil, err
	}
	l.emit(fx.emit)
	extra := map[string]string{
		"resumed":        strconv.FormatBool(resumed),
		"unsigned_lines": strconv.Itoa(info.Unsigned),
		"prev_seq":       strconv.FormatUint(info.PrevSeq, 10),
		"prev_closed":    strconv.FormatBool(info.PrevClosed),
	}
	if opts.Node != "" {
		extra["node"] = opts.Node
	}
	if len(info.Cut) > 0 {
		extra["cut_bytes"] = strconv.FormatInt(info.Cut[0].Bytes, 10)
		extra["cut_sha256"] = info.Cut[0].SHA256
	}
	if err := l.Append(Event{Type: TypeAuditStart, Fields: Fields{Extra: extra}}); err != nil {
		_ = l.closeFile() // the append error is the one to report
		return nil, err
	}
	return l, nil
}

// resume loads the chain state from the last file with complete lines,
// sets aside an incomplete last line, and opens the last file for
// appending (unless it is a full, finished file). It returns what the start
// checkpoint records about the previous end.
func (l *Log) resume(files []string) (*resumeInfo, error) {
	pub := l.opts.Key.Public().(ed25519.PublicKey)
	last := files[len(files)-1]
	var st, lastSt tailState
	stateFile := ""
	for i := len(files) - 1; i >= 0 && stateFile == ""; i-- {
		s, err := scanTail(files[i], pub)
		if err == nil && s.partial > 0 && files[i] != last {
			err = fmt.Errorf("%s ends with an incomplete line but is not the last file", files[i])
		}
		if err != nil {
			return nil, fmt.Errorf("audit: cannot resume the log: %w; run `gatehouse audit verify` on %s and move the damaged file aside", err, l.opts.Dir)
		}
		if files[i] == last {
			lastSt = s
		}
		if s.lines > 0 {
			st, stateFile = s, files[i]
		}
	}
	if stateFile != "" {
		l.seq, l.prev, l.since, l.lastCkpt = st.seq, st.prev, st.since, st.lastCkpt
	}
	info := &resumeInfo{PrevSeq: l.seq, PrevHash: l.prev, PrevClosed: st.lastKind == KindShutdown, Unsigned: l.since}
	if stateFile != last && filepath.Base(last) != fileName(l.seq+1) {
		// A file without complete lines can only be one created for the next line.
		return nil, fmt.Errorf("audit: cannot resume the log: file %s without complete lines does not continue seq %d; move it aside", last, l.seq)
	}
	if lastSt.partial == 0 && stateFile == last && st.lastCkpt && st.size >= l.opts.MaxFileBytes {
		return info, nil // finished file: the next line starts a new one
	}
	f, err := l.opts.OpenFile(last, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("audit: open log file: %w", err)
	}
	l.f, l.fname, l.size = f, filepath.Base(last), lastSt.size
	if lastSt.partial > 0 {
		c, err := l.setAside(lastSt.size, lastSt.size+lastSt.partial)
		if err != nil {
			return nil, fmt.Errorf("audit: cannot resume the log: %w", err)
		}
		info.Cut = []cut{c}
	}
	return info, nil
}

// setAside removes the bytes [from, to) at the end of the current file (an
// incomplete line), after saving them to a side file in the log directory
// when the disk lets it; the returned cut is recorded in the chain.
func (l *Log) setAside(from, to int64) (cut, error) {
	c := cut{File: l.fname, Offset: from, Bytes: to - from}
	if c.Bytes > maxCutBytes {
		return c, fmt.Errorf("%s has %d bytes after its last complete line, more than any one line: not left by a crash", l.fname, c.Bytes)
	}
	buf := make([]byte, c.Bytes)
	if _, err := l.f.ReadAt(buf, from); err != nil {
		return c, fmt.Errorf("read the incomplete end of %s: %w", l.fname, err)
	}
	sum := sha256.Sum256(buf)
	c.SHA256 = hex.EncodeToString(sum[:])
	side := fmt.Sprintf("cut-%020d-%s.bin", l.seq+1, c.SHA256[:16])
	if err := writeNew(filepath.Join(l.opts.Dir, side), buf); err == nil {
		c.SavedAs = side
	} else {
		// The length and hash still go in the chain; the bytes were an
		// event whose Append failed, so its caller refused the action.
		l.log.Warn("audit: cannot save the incomplete end of the log file; recording its hash only", "file", l.fname, "bytes", c.Bytes, "err", err)
	}
	if err := l.f.Truncate(from); err != nil {
		return c, fmt.Errorf("cut the incomplete end of %s: %w", l.fname, err)
	}
	if err := l.f.Sync(); err != nil {
		return c, fmt.Errorf("sync %s: %w", l.fname, err)
	}
	l.size = from
	l.log.Warn("audit: set aside an incomplete line at the end of the log", "file", l.fname, "offset", from, "bytes", c.Bytes, "sha256", c.SHA256, "saved", c.SavedAs)
	return c, nil
}

// writeNew writes data to a new file (never through a link, never over a file).
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // best effort: the write error is the one to report
	}
	return err
}

// Append writes ev to the log. It returns only once the line is in the
// file (and synced, with SyncEveryLine); an error means the event is not
// recorded and the audited action should not proceed. After a write
// failure, each Append first tries to resume the log (see Retry).
func (l *Log) Append(ev Event) error {
	if ev.Type == "" || ev.Type == TypeCheckpoint {
		return fmt.Errorf("audit: invalid event type %q", ev.Type)
	}
	if ev.Time.IsZero() {
		ev.Time = l.opts.Now()
	}
	var fx effects
	l.mu.Lock()
	err := l.appendLocked(ev, &fx)
	l.mu.Unlock()
	l.report(&fx)
	if err != nil {
		// Counted and logged here, once for every caller: an event that
		// is not in the log is never dropped in silence.
		l.failures.Add(1)
		l.log.Warn("audit event not recorded", "type", ev.Type, "account", ev.Fields.Account, "uniqid", ev.Fields.UniqID, "err", err)
		return err
	}
	return nil
}

func (l *Log) appendLocked(ev Event, fx *effects) error {
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		if err := l.recoverLocked(fx); err != nil {
			return fmt.Errorf("audit: log unusable since a write failure (%s), retrying: %w", l.reason, err)
		}
	}
	fields := ev.Fields
	if err := l.writeRecord(record{Time: ev.Time.UTC().Format(timeFormat), Type: ev.Type, Fields: &fields}, fx); err != nil {
		return err
	}
	fx.emit = append(fx.emit, ev)
	l.since++
	if l.since >= l.opts.CheckpointEvery {
		if err := l.writeCheckpoint("", nil, fx); err != nil {
			return err
		}
	}
	if l.size >= l.opts.MaxFileBytes {
		return l.rotate(fx)
	}
	return nil
}

// fail makes err the log's sticky error and notes the change of health.
func (l *Log) fail(err error, fx *effects) error {
	if l.err == nil {
		l.reason = err.Error()
		fx.failed = err
	}
	l.err = err
	return err
}

// writeRecord fills in seq and prev and writes one line with one write(2).
func (l *Log) writeRecord(rec record, fx *effects) error {
	rec.Seq, rec.Prev = l.seq+1, l.prev
	line, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit: encode event: %w", err)
	}
	if len(line) >= maxLineBytes {
		return fmt.Errorf("audit: event of %d bytes is too large (limit %d); shorten its fields", len(line), maxLineBytes)
	}
	if l.f == nil {
		if err := l.openNext(); err != nil {
			return l.fail(err, fx)
		}
	}
	_, err = l.f.Write(append(line, '\n'))
	if err == nil && l.opts.Sync == SyncEveryLine {
		err = l.f.Sync()
	}
	if err != nil {
		// What reached the file is an incomplete line (or an unacknowledged
		// one): the next recovery finds it past l.size and sets it aside.
		return l.fail(fmt.Errorf("audit: write log: %w", err), fx)
	}
	l.size += int64(len(line)) + 1
	l.seq, l.prev = rec.Seq, lineHash(line)
	l.lastCkpt = rec.Type == TypeCheckpoint
	return nil
}

func (l *Log) openNext() error {
	name := fileName(l.seq + 1)
	path := filepath.Join(l.opts.Dir, name)
	f, err := l.opts.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Left by an earlier attempt of ours that failed once it was
		// created: reuse it if it holds nothing. Anything else there was not
		// written by this log; appending after it would bury it.
		if fi, serr := os.Lstat(path); serr == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			f, err = l.opts.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
		} else {
			err = fmt.Errorf("%s already exists and is not an empty file this log created; move it aside", path)
		}
	}
	if err != nil {
		return fmt.Errorf("audit: create log file: %w", err)
	}
	l.f, l.fname, l.size = f, name, 0
	syncDir(l.opts.Dir) // make the new name durable
	return nil
}

// writeCheckpoint signs the chain so far. kind is "" for the periodic
// checkpoint, or KindStart, KindRecover, KindShutdown with their info.
func (l *Log) writeCheckpoint(kind string, info *resumeInfo, fx *effects) error {
	if l.f != nil && !l.fatal && kind != KindStart {
		// The file must be exactly what this process wrote: a shorter or
		// longer file means someone cut or appended to it under us.
		if fi, err := l.f.Stat(); err == nil && fi.Size() != l.size {
			l.fatal = true
			return l.fail(fmt.Errorf("audit: the log file %s is %d bytes but gatehouse wrote %d: it was changed by something else (cut or appended); check it with `gatehouse audit verify` and restart", l.fname, fi.Size(), l.size), fx)
		}
	}
	tm := l.opts.Now().UTC().Format(timeFormat)
	c := &checkpoint{Every: l.opts.CheckpointEvery, Key: l.keyID, Kind: kind, Resume: info}
	rec := record{Seq: l.seq + 1, Prev: l.prev, Time: tm, Type: TypeCheckpoint, Checkpoint: c}
	c.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(l.opts.Key, signedMessage(rec)))
	if err := l.writeRecord(rec, fx); err != nil {
		return err
	}
	l.since = 0
	if err := l.f.Sync(); err != nil {
		return l.fail(fmt.Errorf("audit: sync log: %w", err), fx)
	}
	fx.emit = append(fx.emit, Event{Time: l.opts.Now(), Type: TypeAuditCheckpoint, Fields: Fields{Extra: map[string]string{
		"seq": strconv.FormatUint(l.seq, 10), "hash": l.prev, "kind": cmp.Or(kind, "periodic"), "key": l.keyID}}})
	return nil
}

// rotate ends the current file with a checkpoint and closes it; the next
// line opens a new file that continues the chain.
func (l *Log) rotate(fx *effects) error {
	if !l.lastCkpt {
		if err := l.writeCheckpoint("", nil, fx); err != nil {
			return err
		}
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return l.fail(fmt.Errorf("audit: close log file: %w", err), fx)
	}
	return nil
}

// recoverLocked tries to resume appending after a write failure: what the
// failed writes left past the last complete line is set aside, and a
// signed recover checkpoint records it, so the chain goes on unbroken.
func (l *Log) recoverLocked(fx *effects) error {
	if l.fatal {
		return l.err
	}
	if l.f != nil {
		fi, err := l.f.Stat()
		if err != nil {
			return fmt.Errorf("audit: stat log file: %w", err)
		}
		switch {
		case fi.Size() < l.size:
			l.fatal = true
			l.err = fmt.Errorf("audit: the log file %s is %d bytes, shorter than the %d gatehouse wrote: it was cut; check it with `gatehouse audit verify` and restart", l.fname, fi.Size(), l.size)
			return l.err
		case fi.Size() > l.size:
			c, err := l.setAside(l.size, fi.Size())
			if err != nil {
				return err
			}
			l.cuts = append(l.cuts, c)
		}
	}
	info := &resumeInfo{PrevSeq: l.seq, PrevHash: l.prev, Unsigned: l.since, Cut: l.cuts, Reason: l.reason}
	if err := l.writeCheckpoint(KindRecover, info, fx); err != nil {
		return err
	}
	l.cuts = nil
	fx.recovered = fmt.Sprintf("the audit log accepts events again at seq %d (it had failed: %s)", l.seq, l.reason)
	l.err, l.reason = nil, ""
	return nil
}

// Retry resumes appending after a write failure if its cause is gone (the
// disk has room again). It returns nil when the log accepts appends.
func (l *Log) Retry() error {
	var fx effects
	l.mu.Lock()
	var err error
	switch {
	case l.closed:
		err = ErrClosed
	case l.err != nil:
		err = l.recoverLocked(&fx)
	}
	l.mu.Unlock()
	l.report(&fx)
	return err
}

// RetryEach calls Retry at each tick until ctx ends: the background retry
// that resumes the log even when nothing appends (tests inject the ticks).
func (l *Log) RetryEach(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if l.Healthy() != nil {
				_ = l.Retry()
			}
		}
	}
}

// Healthy returns nil when the log accepts appends, else why it does not.
func (l *Log) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// Failures counts the Appends that failed since Open: events not recorded.
func (l *Log) Failures() uint64 { return l.failures.Load() }

// report runs, without the lock, what a locked operation left to do.
func (l *Log) report(fx *effects) {
	if fx.failed != nil {
		l.log.Error("audit log failing: events cannot be recorded and audited actions are refused", "err", fx.failed)
		if l.opts.OnFailure != nil {
			l.opts.OnFailure(fx.failed)
		}
	}
	if fx.recovered != "" {
		l.log.Info("audit log recovered", "what", fx.recovered)
		if l.opts.OnRecover != nil {
			l.opts.OnRecover(fx.recovered)
		}
	}
	l.emit(fx.emit)
}

func (l *Log) emit(evs []Event) {
	for _, ev := range evs {
		for _, s := range l.opts.Sinks {
			if err := s.Emit(ev); err != nil {
				l.log.Warn("audit sink failed; the event is in the log file", "type", ev.Type, "err", err)
			}
		}
	}
}

// Close writes the shutdown checkpoint, syncs and closes the log. A log
// whose last line is a shutdown checkpoint is closed: Verify holds it to
// the strict rules.
func (l *Log) Close() error {
	var fx effects
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if l.err != nil {
		_ = l.recoverLocked(&fx)
	}
	if l.err == nil {
		_ = l.writeCheckpoint(KindShutdown, nil, &fx)
	}
	l.closed = true
	err := l.closeFile()
	if l.err != nil {
		err = l.err
	}
	l.mu.Unlock()
	l.report(&fx)
	return err
}

func (l *Log) closeFile() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// tailState is what resuming needs from a file.
type tailState struct {
	lines    int   // complete lines
	size     int64 // bytes of complete lines
	partial  int64 // bytes of an incomplete last line
	seq      uint64
	prev     string
	since    int
	lastCkpt bool
	lastKind string // kind of the last line when it is a checkpoint
}

// scanTail reads one file, checks the links between its lines and the
// signatures of its checkpoints, and returns the state after its last
// complete line. An incomplete last line is measured, not refused.
func scanTail(path string, pub ed25519.PublicKey) (tailState, error) {
	var st tailState
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer func() { _ = f.Close() }() // read only
	err = eachLine(f, func(line []byte, complete bool) error {
		if !complete {
			st.partial = int64(len(line))
			return nil
		}
		st.lines++
		st.size += int64(len(line)) + 1
		rec, err := parseRecord(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %v", path, st.lines, err)
		}
		if st.lines > 1 && (rec.Seq != st.seq+1 || rec.Prev != st.prev) {
			return fmt.Errorf("%s line %d does not follow line %d", path, st.lines, st.lines-1)
		}
		st.lastKind = ""
		if rec.Type == TypeCheckpoint {
			if why := checkCheckpoint(rec, pub); why != "" {
				return fmt.Errorf("%s line %d: %s", path, st.lines, why)
			}
			st.since, st.lastKind = 0, rec.Checkpoint.Kind
		} else {
			st.since++
		}
		st.seq, st.prev, st.lastCkpt = rec.Seq, lineHash(line), rec.Type == TypeCheckpoint
		return nil
	})
	return st, err
}

// eachLine calls fn for each line of r without its newline; complete is
// false for a last line that has no newline.
func eachLine(r io.Reader, fn func(line []byte, complete bool) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && len(long) <= 4*maxLineBytes {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			if err == bufio.ErrBufferFull {
				return errors.New("a line is longer than any gatehouse writes")
			}
			line = long
		}
		switch {
		case err == nil:
			if ferr := fn(line[:len(line)-1], true); ferr != nil {
				return ferr
			}
		case err == io.EOF:
			if len(line) > 0 {
				return fn(line, false)
			}
			return nil
		default:
			return err
		}
	}
}

func parseRecord(line []byte) (record, error) {
	var rec record
	d := json.NewDecoder(bytes.NewReader(line))
	if err := d.Decode(&rec); err != nil {
		return rec, fmt.Errorf("not a valid audit record: %v", err)
	}
	if rec.Seq == 0 || len(rec.Prev) != 64 || rec.Type == "" || rec.Time == "" {
		return rec, errors.New("not a valid audit record: seq, prev, time or type missing")
	}
	if (rec.Type == TypeCheckpoint) != (rec.Checkpoint != nil) {
		return rec, errors.New("not a valid audit record: checkpoint type and body disagree")
	}
	return rec, nil
}

// checkCheckpoint returns why a checkpoint does not verify, or "".
func checkCheckpoint(rec record, pub ed25519.PublicKey) string {
	c := rec.Checkpoint
	if c.Key != KeyID(pub) {
		return fmt.Sprintf("checkpoint signed by key %s, not by the given key %s", c.Key, KeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	if err != nil || !ed25519.Verify(pub, signedMessage(rec), sig) {
		return "checkpoint signature does not verify (forged or edited)"
	}
	if c.Every <= 0 {
		return "checkpoint with an invalid interval"
	}
	switch c.Kind {
	case "", KindShutdown:
		if c.Resume != nil {
			return "checkpoint of kind " + cmp.Or(c.Kind, "periodic") + " with resume information"
		}
	case KindStart, KindRecover:
		if c.Resume == nil || c.Resume.PrevSeq+1 != rec.Seq || c.Resume.PrevHash != rec.Prev {
			return "start checkpoint that does not commit to the line before it"
		}
	default:
		return fmt.Sprintf("checkpoint of unknown kind %q", c.Kind)
	}
	return ""
}

func ensurePrivateDir(dir string) error {
	if dir == "" {
		return errors.New("audit: no log directory configured")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("audit: create log directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("audit: log directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("audit: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("audit: log directory %s has mode %v; run chmod 700 on it", dir, fi.Mode().Perm())
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()  // best effort: not every file system syncs a directory
		_ = d.Close() // read only
	}
}
