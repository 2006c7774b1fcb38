package record

// The sink under every format: a recording's bytes, buffered between timed flushes, hashed and
// counted as they reach the file (the audit's SHA-256 and size).

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"
)

// sink is the part both writers share: a mutex, a buffered writer whose
// bytes are hashed and counted on their way out, a flush timer, a sticky
// error and the owned file, if any.
type sink struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	hc      *hashCounter
	file    *recFile // nil: the caller's writer (New), never closed here
	every   time.Duration
	timer   *time.Timer
	armed   bool
	err     error
	closed  bool
	sum     string
	scratch []byte
	direct  *fileWriter // the owned file's writer (nil for a caller's writer)
	// held, when set, is a format's own buffer in front of bw (gatehouse: the events of the
	// chunk being built); it is written out before every flush.
	held heldWriter
	// onFail, when set, is told of the first error once (Options.OnError), after mu is
	// released; failReported says it was (guarded by mu).
	onFail       func(error)
	failReported bool
}

// failure returns the error to report to onFail, once; callers hold mu and call onFail with
// it after releasing mu.
func (o *sink) failure() error {
	if o.err == nil || o.failReported || o.onFail == nil {
		return nil
	}
	o.failReported = true
	return o.err
}

// heldWriter is a format that holds events before it writes them (to compress them whole).
// Its methods run with sink.mu held.
type heldWriter interface {
	heldBytes() int
	writeHeld()
	release()
}

// sinkBuffer is the write buffer of a recording. It is allocated when output arrives and
// released after each timed flush, so an idle session holds none (1,000 idle sessions would
// otherwise pin 64 MiB).
const sinkBuffer = 64 << 10

func newSink(w io.Writer, f *recFile, every time.Duration) *sink {
	var fw *fileWriter
	if f != nil && w == io.Writer(f) {
		fw = newFileWriter(f)
		w = fw
	}
	hc := &hashCounter{w: w, h: sha256.New()}
	return &sink{hc: hc, file: f, every: every, direct: fw}
}

// written is the size of the recording so far, buffered bytes included; callers hold mu.
func (o *sink) written() int64 {
	n := o.hc.n
	if o.bw != nil {
		n += int64(o.bw.Buffered())
	}
	if o.held != nil {
		n += int64(o.held.heldBytes())
	}
	return n
}

// settle writes out what the format holds, so written is exact; callers hold mu.
func (o *sink) settle() {
	if o.held != nil && o.held.heldBytes() > 0 {
		o.held.writeHeld()
	}
}

// usable reports whether a new event may be written; callers hold mu.
func (o *sink) usable() bool { return !o.closed && o.err == nil }

// write appends p to the buffer; callers hold mu. A failure is sticky.
func (o *sink) write(p []byte) {
	if o.err != nil {
		return
	}
	if o.bw == nil {
		o.bw = bufio.NewWriterSize(o.hc, sinkBuffer)
	}
	if _, err := o.bw.Write(p); err != nil {
		o.err = fmt.Errorf("record: write recording: %w", err)
	}
}

// writeDirect writes p to the file unbuffered (after anything buffered); callers hold mu. A
// failure is sticky.
func (o *sink) writeDirect(p []byte) {
	if o.err != nil {
		return
	}
	if o.bw != nil && o.bw.Buffered() > 0 {
		if err := o.bw.Flush(); err != nil {
			o.err = fmt.Errorf("record: write recording: %w", err)
			return
		}
	}
	if _, err := o.hc.Write(p); err != nil {
		o.err = fmt.Errorf("record: write recording: %w", err)
	}
}

// chunkSpace returns room for at least n bytes where the file's next bytes go (the direct-I/O
// stage of an owned file), so that a chunk built there is written without a copy; nil when
// there is none to offer. The room is valid until the next write, flush or settle; callers
// hold mu.
func (o *sink) chunkSpace(n int) []byte {
	if o.direct == nil || o.err != nil || o.bw != nil && o.bw.Buffered() > 0 {
		return nil
	}
	return o.direct.space(n)
}

// eventDone arms the flush timer if buffered bytes are waiting; callers
// hold mu. One timer per recorder, armed only while data waits, so idle
// sessions cost nothing.
func (o *sink) eventDone() {
	// A direct-I/O stage waits too: a line of 64 KiB or more (an asciicast event of escaped
	// binary output) goes past bw into the stage, and must reach the file by the next flush.
	waiting := o.bw != nil && o.bw.Buffered() > 0 || o.held != nil && o.held.heldBytes() > 0 ||
		o.direct != nil && o.direct.stage != nil
	if o.armed || !waiting || o.err != nil {
		return
	}
	o.armed = true
	if o.timer == nil {
		o.timer = time.AfterFunc(o.every, o.timedFlush)
	} else {
		o.timer.Reset(o.every)
	}
}

func (o *sink) timedFlush() {
	var failed error
	defer func() { // after the unlock below
		if failed != nil {
			o.onFail(failed)
		}
	}()
	o.mu.Lock()
	defer o.mu.Unlock()
	defer func() { failed = o.failure() }()
	o.armed = false
	if o.closed || o.err != nil {
		return
	}
	if o.held != nil {
		o.held.writeHeld()
		o.held.release()
	}
	if o.bw == nil {
		o.rest()
		return
	}
	if err := o.bw.Flush(); err != nil {
		o.err = fmt.Errorf("record: flush recording: %w", err)
	}
	o.bw = nil // allocated again by the next write
	o.rest()
}

// rest closes the recording's file once everything is written, until the next write; callers
// hold mu.
func (o *sink) rest() {
	if o.file == nil || o.err != nil {
		return
	}
	if err := o.settleDirect(); err != nil {
		o.err = fmt.Errorf("record: write recording: %w", err)
		return
	}
	if err := o.file.rest(); err != nil {
		o.err = fmt.Errorf("record: close recording: %w", err)
	}
}

func (o *sink) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// finish flushes, syncs and closes; callers hold mu.
func (o *sink) finish() (string, int64, error) {
	if o.closed {
		return o.sum, o.hc.n, o.err
	}
	o.closed = true
	if o.timer != nil {
		o.timer.Stop()
	}
	if o.err == nil && o.held != nil {
		o.held.writeHeld()
	}
	if o.err == nil && o.bw != nil {
		if err := o.bw.Flush(); err != nil {
			o.err = fmt.Errorf("record: flush recording: %w", err)
		}
	}
	if o.held != nil {
		o.held.release() // and nothing held points into the stage settleDirect releases
	}
	if err := o.settleDirect(); err != nil && o.err == nil {
		o.err = fmt.Errorf("record: write recording: %w", err)
	}
	if o.file != nil {
		if o.err == nil {
			if err := o.file.syncClose(); err != nil {
				o.err = fmt.Errorf("record: sync recording: %w", err)
			}
		} else {
			_ = o.file.rest() // the recording failed already: that error is the one to report
		}
	}
	o.sum = hex.EncodeToString(o.hc.h.Sum(nil))
	if o.err != nil && o.file != nil {
		// What was counted may not all have reached the disk (a direct stage the full disk
		// refused): the audit describes the file as it is. A replaced file keeps the count of
		// what was meant, so that the audit's check shows the mismatch.
		if sum, n, err := o.file.sumOnDisk(); err == nil {
			o.sum, o.hc.n = sum, n
		}
	}
	o.bw = nil
	o.scratch = nil
	return o.sum, o.hc.n, o.err
}

// settleDirect writes out the owned file's direct-I/O stage, if any, and releases it; callers
// hold mu.
func (o *sink) settleDirect() error {
	if o.direct == nil {
		return nil
	}
	return o.direct.settle()
}

// hashCounter hashes and counts what reaches the underlying writer, so the
// SHA-256 given to the audit log is that of the file's exact bytes.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
