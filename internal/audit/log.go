package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
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
	// Sinks get every appended event (syslog …).
	Sinks []Sink
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger reports sink failures; nil means slog.Default().
	Logger *slog.Logger
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// maxLineBytes bounds one line, for the writer and the readers.
const maxLineBytes = 1 << 20

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	opts  Options
	keyID string
	log   *slog.Logger

	mu       sync.Mutex
	f        *os.File // nil between a rotation and the next line
	size     int64
	seq      uint64 // seq of the last line written
	prev     string // hash of the last line written
	since    int    // lines since the last checkpoint
	lastCkpt bool   // the last line written is a checkpoint
	closed   bool
	err      error // sticky write failure
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
// is read back, its chain and checkpoints checked, and appending continues
// the chain. It then appends an audit.start event. A last file that is
// damaged (a cut line, a broken link, a bad signature) is refused: run
// `gatehouse audit verify` and move the damaged file aside.
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
	if resumed {
		if err := l.resume(files); err != nil {
			return nil, err
		}
	}
	err = l.Append(Event{Type: TypeAuditStart, Fields: Fields{Extra: map[string]string{
		"resumed":        strconv.FormatBool(resumed),
		"unsigned_lines": strconv.Itoa(l.since),
	}}})
	if err != nil {
		l.closeFile()
		return nil, err
	}
	return l, nil
}

// resume loads the chain state from the last non-empty file and opens the
// last file for appending (unless it is a full, finished file).
func (l *Log) resume(files []string) error {
	pub := l.opts.Key.Public().(ed25519.PublicKey)
	last := files[len(files)-1]
	var st tailState
	stateFile := ""
	for i := len(files) - 1; i >= 0 && stateFile == ""; i-- {
		s, err := scanTail(files[i], pub)
		if err != nil {
			return fmt.Errorf("audit: cannot resume the log: %w; run `gatehouse audit verify` on %s and move the damaged file aside", err, l.opts.Dir)
		}
		if s.lines > 0 {
			st, stateFile = s, files[i]
		}
	}
	if stateFile != "" {
		l.seq, l.prev, l.since, l.lastCkpt = st.seq, st.prev, st.since, st.lastCkpt
	}
	if stateFile == last && st.lastCkpt && st.size >= l.opts.MaxFileBytes {
		return nil // finished file: the next line starts a new one
	}
	if stateFile != last && filepath.Base(last) != fileName(l.seq+1) {
		// An empty file can only be one created for the next line.
		return fmt.Errorf("audit: cannot resume the log: empty file %s does not continue seq %d; move it aside", last, l.seq)
	}
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("audit: open log file: %w", err)
	}
	l.f = f
	if stateFile == last {
		l.size = st.size
	}
	return nil
}

// Append writes ev to the log. It returns only once the line is in the
// file (and synced, with SyncEveryLine); an error means the event is not
// recorded and the audited action should not proceed.
func (l *Log) Append(ev Event) error {
	if ev.Type == "" || ev.Type == TypeCheckpoint {
		return fmt.Errorf("audit: invalid event type %q", ev.Type)
	}
	if ev.Time.IsZero() {
		ev.Time = l.opts.Now()
	}
	l.mu.Lock()
	err := l.appendLocked(ev)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	for _, s := range l.opts.Sinks {
		if err := s.Emit(ev); err != nil {
			l.log.Warn("audit sink failed; the event is in the log file", "type", ev.Type, "err", err)
		}
	}
	return nil
}

func (l *Log) appendLocked(ev Event) error {
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		return fmt.Errorf("audit: log unusable after an earlier write failure (restart gatehouse to resume): %w", l.err)
	}
	fields := ev.Fields
	if err := l.writeRecord(record{Time: ev.Time.UTC().Format(timeFormat), Type: ev.Type, Fields: &fields}); err != nil {
		return err
	}
	l.since++
	if l.since >= l.opts.CheckpointEvery {
		if err := l.writeCheckpoint(); err != nil {
			return err
		}
	}
	if l.size >= l.opts.MaxFileBytes {
		return l.rotate()
	}
	return nil
}

// writeRecord fills in seq and prev and writes one line with one write(2).
func (l *Log) writeRecord(rec record) error {
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
			l.err = err
			return err
		}
	}
	n, err := l.f.Write(append(line, '\n'))
	l.size += int64(n)
	if err == nil && l.opts.Sync == SyncEveryLine {
		err = l.f.Sync()
	}
	if err != nil {
		l.err = fmt.Errorf("audit: write log: %w", err)
		return l.err
	}
	l.seq, l.prev = rec.Seq, lineHash(line)
	l.lastCkpt = rec.Type == TypeCheckpoint
	return nil
}

func (l *Log) openNext() error {
	path := filepath.Join(l.opts.Dir, fileName(l.seq+1))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: create log file: %w", err)
	}
	l.f, l.size = f, 0
	syncDir(l.opts.Dir) // make the new name durable
	return nil
}

func (l *Log) writeCheckpoint() error {
	tm := l.opts.Now().UTC().Format(timeFormat)
	msg := checkpointMessage(l.seq+1, l.prev, tm, l.opts.CheckpointEvery, l.keyID)
	sig := ed25519.Sign(l.opts.Key, msg)
	err := l.writeRecord(record{Time: tm, Type: TypeCheckpoint, Checkpoint: &checkpoint{
		Every: l.opts.CheckpointEvery, Key: l.keyID, Sig: base64.StdEncoding.EncodeToString(sig),
	}})
	if err != nil {
		return err
	}
	l.since = 0
	if err := l.f.Sync(); err != nil {
		l.err = fmt.Errorf("audit: sync log: %w", err)
		return l.err
	}
	return nil
}

// rotate ends the current file with a checkpoint and closes it; the next
// line opens a new file that continues the chain.
func (l *Log) rotate() error {
	if !l.lastCkpt {
		if err := l.writeCheckpoint(); err != nil {
			return err
		}
	}
	if err := l.f.Close(); err != nil {
		l.err = fmt.Errorf("audit: close log file: %w", err)
		return l.err
	}
	l.f = nil
	return nil
}

// Close writes a final checkpoint, syncs and closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.err == nil && !l.lastCkpt {
		l.writeCheckpoint()
	}
	err := l.closeFile()
	if l.err != nil {
		return l.err
	}
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
	lines    int
	size     int64
	seq      uint64
	prev     string
	since    int
	lastCkpt bool
}

// scanTail reads one file, checks the links between its lines and the
// signatures of its checkpoints, and returns the state after its last line.
func scanTail(path string, pub ed25519.PublicKey) (tailState, error) {
	var st tailState
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	err = eachLine(f, func(line []byte, complete bool) error {
		st.lines++
		st.size += int64(len(line)) + 1
		if !complete {
			return fmt.Errorf("%s line %d is incomplete", path, st.lines)
		}
		rec, err := parseRecord(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %v", path, st.lines, err)
		}
		if st.lines > 1 && (rec.Seq != st.seq+1 || rec.Prev != st.prev) {
			return fmt.Errorf("%s line %d does not follow line %d", path, st.lines, st.lines-1)
		}
		if rec.Type == TypeCheckpoint {
			if why := checkCheckpoint(rec, pub); why != "" {
				return fmt.Errorf("%s line %d: %s", path, st.lines, why)
			}
			st.since = 0
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
	if err != nil || !ed25519.Verify(pub, checkpointMessage(rec.Seq, rec.Prev, rec.Time, c.Every, c.Key), sig) {
		return "checkpoint signature does not verify (forged or edited)"
	}
	if c.Every <= 0 {
		return "checkpoint with an invalid interval"
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
		d.Sync()
		d.Close()
	}
}
