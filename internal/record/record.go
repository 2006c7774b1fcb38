// Package record writes and reads terminal session recordings: asciicast v2
// (the default; plays in `asciinema play` and the asciinema web player) and
// ttyrec (plays in `ttyplay`).
//
// Lifecycle: the session code creates one Recorder per channel with Create
// (or New over any io.Writer), feeds it Output as bytes flow to the user,
// Resize on window-change, Input only when input recording is enabled, and
// calls Close exactly once when the channel ends. Close returns the SHA-256
// and size of the bytes written, for the audit log.
//
// Invariants:
//   - Streaming: nothing accumulates. A recorder holds one bufio buffer, a
//     scratch slice bounded by maxEventBytes, and at most 3 bytes of an
//     incomplete UTF-8 sequence per stream, whatever the session length.
//   - Durability: bytes handed to Output reach the OS (write(2)) within
//     FlushInterval (1 s by default), so a crash of gatehouse loses at most
//     about one second. Close flushes and, for files it owns, fsyncs.
//   - UTF-8: a multibyte character split across Output calls is held back
//     and written whole in the next event. Bytes become U+FFFD only when
//     they are really invalid (or the stream ends mid-character).
//   - Off the session's path: Output stamps the time and copies the bytes
//     into a batch; full batches (128 KiB) go to a bounded queue (2 batches),
//     and a batch that is not full within batchDelay goes anyway. A worker
//     goroutine per recorder escapes, hashes and writes. When the disk is
//     slower than the session Output waits: nothing is dropped.
//   - Errors are sticky: the first write error stops the recorder; Err
//     reports it (shortly after the Output that met it) and Close returns
//     it. The session code decides whether to end the session (fail closed)
//     when recording fails.
//   - All methods are safe for concurrent use (output, window-change, the
//     worker and the flush timer run on different goroutines). Close must be
//     called once the stream ends, or the worker goroutine stays.
package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/crash"
)

// Recorder records one terminal stream. Implementations never block on
// anything but the underlying writer, and never retain p after returning.
type Recorder interface {
	// Output records terminal output, in whatever chunks it arrives.
	Output(p []byte)
	// Resize records a terminal size change.
	Resize(cols, rows int)
	// Input records user keystrokes; a no-op unless Options.RecordInput.
	Input(p []byte)
	// Err returns the first write error, if any, without closing.
	Err() error
	// Close flushes, syncs and closes the recording and returns the SHA-256
	// (hex) and size in bytes of everything written. Calling Close again
	// returns the same values.
	Close() (sha256Hex string, size int64, err error)
}

// Format is a recording file format.
type Format int

const (
	// Asciicast is asciicast v2 (newline-delimited JSON), the default.
	Asciicast Format = iota
	// Ttyrec is the classic ttyrec binary format.
	Ttyrec
	// Gatehouse is gatehouse's compressed binary format (ghrec.go), the configuration's
	// default: cheap per byte whatever the bytes; exported to asciicast or ttyrec for players.
	Gatehouse
)

// Ext returns the file name extension for f, without the dot.
func (f Format) Ext() string {
	switch f {
	case Ttyrec:
		return "ttyrec"
	case Gatehouse:
		return "ghrec"
	}
	return "cast"
}

// ParseFormat is the inverse of Format.Name: "asciicast", "ttyrec" or "gatehouse".
func ParseFormat(name string) (Format, error) {
	switch name {
	case "asciicast":
		return Asciicast, nil
	case "ttyrec":
		return Ttyrec, nil
	case "gatehouse":
		return Gatehouse, nil
	}
	return 0, fmt.Errorf("record: unknown format %q (asciicast, ttyrec or gatehouse)", name)
}

// Name is the format's name in the configuration (recordingFormat).
func (f Format) Name() string {
	switch f {
	case Ttyrec:
		return "ttyrec"
	case Gatehouse:
		return "gatehouse"
	}
	return "asciicast"
}

func (f Format) String() string { return f.Ext() }

// Options configure a recorder. The zero value records asciicast v2 at
// 80x24, output only, flushed every second.
type Options struct {
	Format Format
	// Cols and Rows are the initial terminal size; 0 means 80x24 (the
	// fallback when the client asked for no pty).
	Cols, Rows int
	// Term and Shell go into the asciicast header's env (TERM, SHELL).
	Term, Shell string
	// Title goes into the asciicast header.
	Title string
	// Command is the remote command ("" for a shell). It is matched against
	// StealthStdout; it is written to the header only if HeaderCommand.
	Command       string
	HeaderCommand bool
	// RecordInput enables "i" events (asciicast only). Off by default:
	// passwords typed on the target are not echoed, so without input
	// recording they never reach the file.
	RecordInput bool
	// StealthStdout, when it matches Command, stops output recording for
	// this stream (The Bastion's --stealth-stdout, for rsync, scp and other
	// bulk transfers). A marker notes that output was not recorded.
	StealthStdout *regexp.Regexp
	// MaxBytes caps the recording's size (0: no cap). When the file reaches it, a marker
	// (LimitMarker) is written and later events are dropped: the session goes on, its output
	// still reaches the user, only the recording stops. The file may pass MaxBytes by at most
	// one event (32 KiB of output, escaped) and the marker.
	MaxBytes int64
	// OnLimit, when set, is called once when MaxBytes is reached (on the recorder's worker;
	// it must not block).
	OnLimit func()
	// OnError, when set, is told once of the first write error of the recording (a full
	// disk…), as soon as the worker or the timed flush meets it, off the session's path (it must
	// not block): the session can then end rather than go on unrecorded.
	OnError func(error)
	// Defer, when set (gatehouse format only), lets full chunks of compressible output be stored
	// as is, within its budget, for a Compactor to compress once the recording is closed
	// (compact_plan.go); DeferredBytes says how many were.
	Defer *Deferral
	// FlushInterval bounds how long written data may sit in the user-space
	// buffer; 0 means 1 s.
	FlushInterval time.Duration
	// Now is the clock; nil means time.Now. Event times are differences of
	// its readings, so with time.Now they come from the monotonic clock.
	Now func() time.Time
}

// Stealthed reports whether opts make output unrecorded for this stream (see StealthMatch).
func (o *Options) Stealthed() bool { return StealthMatch(o.StealthStdout, o.Command) }

// StealthMatch decides whether a connection's remote command runs with its output unrecorded
// (The Bastion's ttyrecStealthStdoutPattern). It is the one place that decides, and it fails
// closed: the output is recorded unless
//   - a pattern is set and the command is not empty,
//   - the command holds only plain characters (StealthSafe): no ';', '&', '|', '$', '`', '(',
//     '<', '>', quotes, globs or newlines, so nothing can be chained after an allowed command
//     (`rsync --server …; anything` ran unrecorded when a pattern matched its start), and
//   - the pattern matches the whole command, anchored at both ends, whatever the operator
//     wrote (`^rsync --server` matches "rsync --server" only; write `rsync --server .*`).
func StealthMatch(pattern *regexp.Regexp, command string) bool {
	if pattern == nil || command == "" || !StealthSafe(command) {
		return false
	}
	whole, err := regexp.Compile(`^(?:` + pattern.String() + `)$`)
	if err != nil {
		return false
	}
	return whole.MatchString(command)
}

// StealthSafe reports whether command holds only characters a shell passes through as plain
// words: letters, digits, space and -_./:=,@+%. Any other byte (a metacharacter, a quote, a
// tab or newline, a non-ASCII byte) could start a second command or change what runs.
func StealthSafe(command string) bool {
	for i := 0; i < len(command); i++ {
		c := command[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte(" -_./:=,@+%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// StealthMarker is the marker label written when output is not recorded.
const StealthMarker = "gatehouse: output not recorded (stealth stdout)"

// LimitMarker is the marker label written when a recording reaches Options.MaxBytes.
const LimitMarker = "gatehouse: recording size limit reached; the rest of this session is not recorded"

// maxEventBytes caps the input bytes per event or frame, so one huge
// Output call cannot make a huge line that readers must hold in memory.
const maxEventBytes = 32 << 10

// New starts a recorder writing to w. Close flushes but does not close w.
func New(w io.Writer, opts Options) (Recorder, error) {
	return newRecorder(w, nil, opts)
}

// Create creates dir/name (mode 0600, O_EXCL, so an existing file is never
// overwritten or followed through a symlink) and starts a recorder that
// owns it: Close fsyncs and closes the file. dir is created with mode 0700
// if missing and must not be accessible to group or others. It returns the
// recorder and the file's path.
func Create(dir, name string, opts Options) (Recorder, string, error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return nil, "", fmt.Errorf("record: recording file name %q must be a single path element; build it with FileName", name)
	}
	if err := ensurePrivateDir(dir); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("record: create recording: %w", err)
	}
	rf, err := newRecFile(path, f)
	if err != nil {
		_ = f.Close() // the Stat error is the one to report
		_ = os.Remove(path)
		return nil, "", err
	}
	rec, err := newRecorder(rf, rf, opts)
	if err != nil {
		// The recorder's error is the one to report; an empty file left behind holds nothing.
		_ = f.Close()
		_ = os.Remove(path)
		return nil, "", err
	}
	return rec, path, nil
}

// ensurePrivateDir creates dir with mode 0700 if needed and refuses a
// directory that group or others can enter.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("record: create recording directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("record: recording directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("record: %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("record: recording directory %s has mode %v; run chmod 700 on it", dir, fi.Mode().Perm())
	}
	return nil
}

func newRecorder(w io.Writer, f *recFile, opts Options) (Recorder, error) {
	if opts.Cols <= 0 || opts.Rows <= 0 {
		opts.Cols, opts.Rows = 80, 24
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	out := newSink(w, f, opts.FlushInterval)
	start := opts.Now()
	var enc encoder
	var err error
	switch opts.Format {
	case Asciicast:
		enc, err = newAsciicastWriter(out, opts, start)
	case Gatehouse:
		enc, err = newGhWriter(out, opts, start)
	case Ttyrec:
		if opts.RecordInput {
			return nil, errors.New("record: ttyrec cannot hold input events; use asciicast or turn input recording off")
		}
		enc, err = newTtyrecWriter(out, opts, start)
	default:
		return nil, fmt.Errorf("record: unknown format %d", opts.Format)
	}
	if err != nil {
		return nil, err
	}
	// Before the timer below is armed: its flush reads onFail under mu.
	out.onFail = opts.OnError
	// The header may wait for the first timed flush; if nothing waits, the file rests now.
	out.mu.Lock()
	out.eventDone()
	if !out.armed {
		out.rest()
	}
	err = out.err
	out.mu.Unlock()
	if err != nil {
		return nil, err
	}
	r := &recorder{
		enc: enc, out: out, now: opts.Now, stealth: opts.Stealthed(), input: opts.RecordInput,
		maxBytes: opts.MaxBytes, onLimit: opts.OnLimit,
		queue: make(chan item, queueLen), free: make(chan item, maxBatches), idle: workerIdle,
		ownedFree: make(chan item, maxOwned),
	}
	r.batchTimer = time.AfterFunc(time.Hour, r.sendBatch)
	r.batchTimer.Stop()
	return r, nil
}

// workerIdle is how long the worker goroutine waits for the next event before it exits; the
// next event starts a new one. Idle sessions then hold no worker stack.
const workerIdle = 2 * time.Second

// encoder turns events into a format's bytes. Its methods run on the
// recorder's worker goroutine with sink.mu held.
type encoder interface {
	output(at time.Time, p []byte)
	input(at time.Time, p []byte)
	resize(at time.Time, cols, rows int)
	end(at time.Time) // the stream is over: write anything held back
	marker(at time.Time, label string)
}

// Output and Input gather into a batch, handed to the worker when it holds batchBytes or
// batchDelay after its first bytes, whichever comes first (and before any other event, and at
// Close). Why: handing every 32 KiB SSH packet to the worker woke it (and a thread) for each,
// which cost a bulk relay more CPU than recording zeros itself (perf: chansend → wakep →
// futex, 9 % of gatehouse's CPU); a batch wakes it once per 128 KiB. Each Output keeps its own
// time in the batch (its marks), so replays keep every event's time.
const (
	batchBytes = 128 << 10
	batchDelay = 10 * time.Millisecond
)

// queueLen bounds the batches in flight between the session goroutine and the worker: with the
// batch being filled and the one the worker holds, at most (queueLen+2)*batchBytes (512 KiB)
// per busy recording.
const queueLen = 2

// maxBatches is how many batch buffers a recorder has at most: the one being filled, the
// queued ones and the worker's. Emptied ones wait in free for reuse (dropped when the worker
// goes idle); when all exist and none is free, the sender waits for the worker's.
const maxBatches = queueLen + 2

// item is one queued event, or a batch of outputs or inputs. data is a buffer from free, owned
// by the item; marks say where each Output's bytes end in data and when they came.
type item struct {
	kind       EventKind
	at         time.Time
	data       []byte
	marks      []mark
	cols, rows int
	owned      bool // data is a buffer OutputOwned took: it goes back to ownedFree, not free
}

// mark is the end (in item.data) and the time of one Output's or Input's bytes.
type mark struct {
	end int
	at  time.Time
}

// recorder is the Recorder the session code holds. Output, Input and Resize
// stamp the time, copy the bytes into a pooled buffer and queue them; a
// worker goroutine encodes, hashes and writes. The session's goroutine thus
// pays for a copy, not for escaping, hashing or the disk, until the queue
// is full: then Output waits (backpressure), and nothing is ever dropped.
type recorder struct {
	enc     encoder
	out     *sink
	now     func() time.Time
	stealth bool
	input   bool
	// maxBytes caps the file; limited is set (on the worker, under out.mu) once it is reached.
	maxBytes int64
	limited  bool
	onLimit  func()

	idle    time.Duration // workerIdle (tests shorten it)
	mu      sync.Mutex    // orders senders; guards closed, running and the Close results
	closed  bool
	running bool // a worker goroutine is draining the queue
	queue   chan item
	free    chan item // emptied batches (data and marks), for reuse
	// ownedFree holds the buffers OutputOwned took once the worker is done with them, for its
	// caller's next reads (record_owned.go); owned counts those the recorder holds (guarded by
	// mu), at most maxOwned.
	ownedFree chan item
	owned     int
	done      chan struct{}
	// batch is the Output or Input being gathered (guarded by mu); batchTimer sends it after
	// batchDelay.
	batch      item
	batchTimer *time.Timer
	batchArmed bool
	batchFull  bool // the last batch was sent full: streaming output, take a full-size buffer
	batches    int  // batch buffers that exist (in free or not)
	sum        string
	size       int64
	err        error
}

func (r *recorder) Output(p []byte) {
	if r.stealth || len(p) == 0 {
		return
	}
	r.send(KindOutput, p, 0, 0)
}

func (r *recorder) Input(p []byte) {
	if !r.input || len(p) == 0 {
		return
	}
	r.send(KindInput, p, 0, 0)
}

func (r *recorder) Resize(cols, rows int) { r.send(KindResize, nil, cols, rows) }

// Err returns the first write error. Writes happen on the worker, so an
// error shows here shortly after the Output that met it, and at Close.
func (r *recorder) Err() error { return r.out.Err() }

func (r *recorder) send(kind EventKind, p []byte, cols, rows int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	at := r.now()
	if r.batch.data != nil && kind != r.batch.kind {
		r.flushBatch()
	}
	if kind == KindResize {
		r.enqueue(item{kind: kind, at: at, cols: cols, rows: rows})
		return
	}
	for len(p) > 0 {
		if r.batch.data == nil {
			var b item
			select {
			case b = <-r.free:
			default:
				if r.batches < maxBatches {
					r.batches++
				} else {
					b = <-r.free // back-pressure: the worker holds or queued all of them
				}
			}
			if want := min(max(len(p), 512), batchBytes); r.batchFull {
				want = batchBytes
				if cap(b.data) < want {
					b.data = make([]byte, 0, want)
				}
			} else if cap(b.data) < want {
				// Sized to the output: small output (an idle terminal) keeps small buffers.
				b.data = make([]byte, 0, want)
			}
			r.batch = item{kind: kind, at: at, data: b.data, marks: b.marks}
		}
		n := min(len(p), batchBytes-len(r.batch.data))
		r.batch.data = append(r.batch.data, p[:n]...)
		r.batch.marks = append(r.batch.marks, mark{end: len(r.batch.data), at: at})
		p = p[n:]
		if len(r.batch.data) >= batchBytes {
			r.flushBatch()
		}
	}
	if r.batch.data != nil && !r.batchArmed {
		r.batchArmed = true
		r.batchTimer.Reset(batchDelay)
	}
}

// sendBatch is the batch timer: it hands over what gathered since.
func (r *recorder) sendBatch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batchArmed = false
	if !r.closed {
		r.flushBatch()
	}
}

// flushBatch queues the batch being gathered, if any; callers hold mu.
func (r *recorder) flushBatch() {
	if r.batch.data == nil {
		return
	}
	it := r.batch
	r.batch = item{}
	r.batchFull = len(it.data) >= batchBytes
	r.enqueue(it)
}

// enqueue hands it to the worker, starting one if none runs; it waits while the queue is full
// (back-pressure). Callers hold mu.
func (r *recorder) enqueue(it item) {
	if !r.running {
		r.running = true
		r.done = make(chan struct{})
		go r.run(r.done)
	}
	r.queue <- it
}

// run drains the queue; it exits when the queue is closed, or after workerIdle without events
// (then, under mu, only if nothing was queued meanwhile).
func (r *recorder) run(done chan struct{}) {
	defer close(done)
	idle := time.NewTimer(r.idle)
	defer idle.Stop()
	for {
		var it item
		var ok bool
		select {
		case it, ok = <-r.queue:
			if !ok {
				return
			}
		case <-idle.C:
			// Not Lock: whoever holds mu may be waiting on this worker, Close for it to end
			// (it closed the queue: the next receive returns) or a sender for room in a full
			// queue. Waiting for mu here deadlocked Close when the idle timer fired as a
			// session ended (2 s after its last output, as a relay's close grace does).
			if !r.mu.TryLock() {
				idle.Reset(r.idle)
				continue
			}
			if len(r.queue) == 0 {
				r.running = false
				// An idle session keeps no batch buffers.
				for len(r.free) > 0 {
					<-r.free
					r.batches--
				}
				for len(r.ownedFree) > 0 {
					<-r.ownedFree
					r.owned--
				}
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
			idle.Reset(r.idle)
			continue
		}
		r.handle(it)
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(r.idle)
	}
}

func (r *recorder) handle(it item) {
	r.out.mu.Lock()
	reached := false
	if r.out.usable() && !r.limited {
		// This worker is outside every session's recovery point: a panic while encoding the
		// terminal's bytes fails this recording as a write error does (internal/crash).
		if it.kind == KindResize {
			r.encode(it.kind, it.at, nil, it.cols, it.rows)
			reached = r.checkLimit(it.at)
		}
		// A batch: each Output's bytes at their own time, at most maxEventBytes per event, the
		// cap checked after each (so the file passes it by one event at most). A recording that
		// stores its output as is takes the batch whole, as one chunk (storeBatch), when the
		// cap is not within reach of it.
		start := 0
		if len(it.marks) > 0 && r.storeBatch(it) {
			start = len(it.data)
			reached = r.checkLimit(it.marks[len(it.marks)-1].at)
		}
		for _, m := range it.marks {
			for start < m.end && !reached && r.out.usable() {
				n := min(m.end-start, maxEventBytes)
				r.encode(it.kind, m.at, it.data[start:start+n], 0, 0)
				start += n
				reached = r.checkLimit(m.at)
			}
		}
	}
	failed := r.out.failure()
	r.out.mu.Unlock()
	if failed != nil {
		r.out.onFail(failed)
	}
	if reached && r.onLimit != nil {
		r.onLimit()
	}
	switch {
	case it.owned:
		r.ownedFree <- item{data: it.data[:0]} // room for every owned buffer: never blocks
	case it.data != nil:
		r.free <- item{data: it.data[:0], marks: it.marks[:0]} // room for every batch: never blocks
	}
}

// batchStorer is an encoder that may write a batch whole (the gatehouse format's storeBatch).
type batchStorer interface {
	storeBatch(kind byte, data []byte, marks []mark) bool
}

// storeBatch gives the batch whole to an encoder that takes it so, and reports whether it did;
// callers hold out.mu. A panic fails the recording, as in encode.
func (r *recorder) storeBatch(it item) bool {
	bs, ok := r.enc.(batchStorer)
	if !ok {
		return false
	}
	var stored bool
	if pn := crash.Catch(func() { stored = bs.storeBatch(byte(it.kind), it.data, it.marks) }); pn != nil {
		r.out.err = fmt.Errorf("record: encoding the recording: %w", pn)
		return true // nothing more of this batch: the recording has failed
	}
	return stored
}

// encode writes one event; callers hold out.mu.
func (r *recorder) encode(kind EventKind, at time.Time, p []byte, cols, rows int) {
	// This worker is outside every session's recovery point: a panic while encoding the
	// terminal's bytes fails this recording as a write error does (internal/crash).
	if pn := crash.Catch(func() {
		switch kind {
		case KindOutput:
			r.enc.output(at, p)
		case KindInput:
			r.enc.input(at, p)
		case KindResize:
			r.enc.resize(at, cols, rows)
		}
	}); pn != nil {
		r.out.err = fmt.Errorf("record: encoding the recording: %w", pn)
	}
}

// checkLimit writes the limit marker once the file reaches maxBytes and reports whether it did;
// callers hold out.mu. Checked after each event, so a file past the cap always ends with the
// marker.
func (r *recorder) checkLimit(at time.Time) bool {
	if r.maxBytes <= 0 || r.out.written() < r.maxBytes {
		return false
	}
	// A compressing format counts held events at their raw size; compress them first, so the
	// cap applies to the bytes the file really has.
	r.out.settle()
	if r.out.written() < r.maxBytes {
		return false
	}
	r.limited = true
	r.enc.marker(at, LimitMarker)
	return true
}

func (r *recorder) Close() (string, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.flushBatch()
		r.batchTimer.Stop()
		r.closed = true
		close(r.queue)
		if r.running {
			<-r.done
		}
		r.out.mu.Lock()
		if r.out.usable() {
			r.enc.end(r.now())
		}
		r.sum, r.size, r.err = r.out.finish()
		r.out.mu.Unlock()
	}
	return r.sum, r.size, r.err
}
