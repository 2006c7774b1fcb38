package record

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"gatehouse/internal/crash"
)

// A bulk recording bypasses the page cache: its full chunks are gathered in an aligned stage
// and written with O_DIRECT, straight from that memory to the disk. Through the page cache the
// kernel copied every byte into freshly allocated pages (copy_folio_from_iter_atomic, 30 % of
// the recorder's CPU on random output in perf, as much as SHA-256) and then wrote them back and
// dropped them (dropBehind); `dd` on this VM: 256 MiB cost 0.2–0.8 CPU-s buffered, 0.03–0.05
// with oflag=direct. What a session prints a few lines at a time still goes through the page
// cache (small writes, one a second), and so does the unaligned tail of a stage at each timed
// flush, so that what was flushed is in the file, as before: a kill -9 loses no flushed chunk.
// The stage exists only while output streams: an idle session holds none.
//
// The stage starts at the file's last block boundary: the bytes of that block already in the
// file are read back into it first (one 4 KiB read per burst of bulk output) and written again,
// unchanged, with the rest. The kernel keeps the two kinds of writes coherent (a direct write
// over cached pages writes them back and drops them first).
//
// Full stages are written by a goroutine of their own while the next one fills (at most
// directInFlight of them written or waiting), so the disk's latency does not stop the worker:
// drop-behind gave the page cache 32 MiB of slack behind the writer, a synchronous direct write
// gives none, and the session waits as soon as its queue of batches is full. The goroutine
// exists while output streams; it ends at the next settle.
const (
	directAlign    = 4 << 10  // file offsets, lengths and memory of direct writes are multiples of it
	directStage    = 2 << 20  // bytes a stage holds before it is written: one huge page (see stagePool)
	directMin      = 64 << 10 // a write at least this large starts a stage (bulk output)
	directInFlight = 1        // full stages being written or waiting, at most (then Write waits)
)

// stagePool keeps aligned stages for the recordings that stream. Their memory comes from
// newStageMemory: on Linux a 2 MiB huge page of its own, outside the Go heap, unmapped once the
// pool drops the stage (see direct_linux.go).
var stagePool = sync.Pool{New: func() any { return newStageMemory() }}

// heapStage is a stage on the Go heap, aligned to directAlign: where huge pages cannot be had.
func heapStage() *[]byte {
	b := make([]byte, directStage+directAlign)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	s := b[off : off : off+directStage]
	return &s
}

// errDirectUnsupported is a file system that refuses O_DIRECT (or its alignment): the recording
// goes on through the page cache.
var errDirectUnsupported = errors.New("direct I/O not supported here")

// fileWriter writes a recording that owns its file: through the page cache with drop-behind
// hints for small writes, or through an O_DIRECT stage while output streams (see above).
type fileWriter struct {
	f        *recFile
	drop     dropBehind
	size     int64    // bytes accepted (the file's size once the stage is written)
	disk     int64    // bytes in the file
	stage    *[]byte  // nil unless streaming; covers [base, base+len)
	base     int64    // file offset of stage[0], a multiple of directAlign
	dfd      *os.File // the O_DIRECT descriptor while a stage exists
	noDirect bool     // the file system refused direct I/O: page cache only
	moved    bool     // a direct write made the file longer since the last write through f
	staged   int64    // bytes Write took in place, built in the stage (space): never copied

	// The stage writer (see above): full stages go to queue; done is closed when it has
	// written them all. While it runs it alone uses disk, moved, noDirect, drop and f; failed
	// tells Write that werr is set. queue is nil when it does not run.
	queue  chan stageWrite
	done   chan struct{}
	werr   error
	failed atomic.Bool
}

// stageWrite is a full stage for the stage writer: its bytes and their file offset.
type stageWrite struct {
	buf  *[]byte
	base int64
}

func newFileWriter(f *recFile) *fileWriter {
	return &fileWriter{f: f, drop: dropBehind{f: f}}
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.stage == nil && (len(p) < directMin || w.noDirect) {
		n, err := w.appendBuffered(p)
		w.size += int64(n)
		return n, err
	}
	if w.stage == nil {
		if err := w.startStage(); err != nil {
			if !errors.Is(err, errDirectUnsupported) {
				return 0, err
			}
			w.noDirect = true
			return w.Write(p)
		}
	}
	if s := *w.stage; len(p) > 0 && len(p) <= cap(s)-len(s) && &s[len(s):cap(s)][0] == &p[0] {
		// A chunk built in place (space): the bytes are where they go already. No hand-off
		// here, even when the stage is now full: the caller hashes p after Write returns, and a
		// stage handed off may be written, pooled and taken by another recording meanwhile.
		*w.stage = s[:len(s)+len(p)]
		w.size += int64(len(p))
		w.staged += int64(len(p))
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		s := *w.stage
		k := copy(s[len(s):cap(s)], p)
		*w.stage, p = s[:len(s)+k], p[k:]
		w.size += int64(k)
		if len(*w.stage) == cap(*w.stage) {
			if err := w.handOff(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// startStage opens the direct descriptor and reads the file's last partial block into a stage.
func (w *fileWriter) startStage() error {
	dfd, err := w.f.openDirect()
	if err != nil {
		return err
	}
	st := stages.get()
	w.base = w.disk &^ (directAlign - 1)
	if have := int(w.disk - w.base); have > 0 {
		n, err := dfd.ReadAt((*st)[:directAlign], w.base)
		if n < have {
			stages.put(st)
			_ = dfd.Close() // the read's error is the one to report
			if err == nil || isUnsupported(err) {
				return fmt.Errorf("%w: read back %d of %d bytes: %v", errDirectUnsupported, n, have, err)
			}
			return fmt.Errorf("read back the recording's last block: %w", err)
		}
	}
	*st = (*st)[:w.disk-w.base]
	w.stage, w.dfd = st, dfd
	return nil
}

// handOff gives the full stage to the stage writer (starting it if need be) and takes a fresh
// one; it waits while directInFlight stages are queued, and reports the writer's error.
func (w *fileWriter) handOff() error {
	if w.failed.Load() {
		return w.stopWriter()
	}
	w.queueStage(stages.get())
	return nil
}

// queueStage gives the stage's bytes (a multiple of directAlign) to the stage writer, starting
// it if need be, and makes next (emptied here) the stage that follows them; it waits while
// directInFlight stages are queued.
func (w *fileWriter) queueStage(next *[]byte) {
	if w.queue == nil {
		w.queue, w.done = make(chan stageWrite, directInFlight-1), make(chan struct{})
		go w.writeStages(w.queue, w.done)
	}
	n := len(*w.stage) // the stage writer owns the stage once it is queued
	w.queue <- stageWrite{buf: w.stage, base: w.base}
	w.base += int64(n)
	*next = (*next)[:0]
	w.stage = next
}

// space returns the stage's free room, at least n bytes long, where the file's next bytes go:
// a chunk built there is written by Write without a copy (the copy into the stage was half of
// the recorder's copying time on random output in perf, its destination being cold). When the stage has less room, its whole blocks go to the
// stage writer and a fresh stage starts with the rest (under one block, copied). nil: no stage
// to offer (no direct I/O here, or a failed stage writer whose error the next Write reports);
// the caller builds the chunk elsewhere.
//
// The room is the caller's until its Write: nothing else may write, settle or hand off the
// stage meanwhile (the gatehouse writer writes its chunk before every flush and at Close).
func (w *fileWriter) space(n int) []byte {
	if w.noDirect || w.failed.Load() || n > directStage-directAlign {
		return nil
	}
	if w.stage == nil {
		if err := w.startStage(); err != nil {
			if errors.Is(err, errDirectUnsupported) {
				w.noDirect = true
			}
			return nil // another error: the Write that follows meets it again and reports it
		}
	}
	if s := *w.stage; cap(s)-len(s) < n {
		whole := len(s) &^ (directAlign - 1)
		next := stages.get()
		rest := append((*next)[:0], s[whole:]...)
		*w.stage = s[:whole]
		w.queueStage(next)
		*w.stage = rest
	}
	s := *w.stage
	return s[len(s):len(s):cap(s)]
}

// writeStages is the stage writer: it writes the stages queued, in order, until the queue is
// closed; after an error it only returns the stages to the pool.
func (w *fileWriter) writeStages(queue <-chan stageWrite, done chan<- struct{}) {
	defer close(done)
	for sw := range queue {
		if w.werr == nil {
			// Outside every session's recovery point: a panic fails this recording as a write
			// error does (internal/crash).
			if pn := crash.Catch(func() { w.werr = w.writeAt(*sw.buf, sw.base) }); pn != nil {
				w.werr = fmt.Errorf("writing the recording: %w", pn)
			}
			if w.werr != nil {
				w.failed.Store(true)
			}
		}
		stages.put(sw.buf)
	}
}

// stopWriter waits until the stage writer has written what was queued, and returns its error.
func (w *fileWriter) stopWriter() error {
	if w.queue != nil {
		close(w.queue)
		<-w.done
		w.queue, w.done = nil, nil
	}
	return w.werr
}

// writeAt writes s (a multiple of directAlign long) at base, directly. A file system that
// refuses gets the same bytes through the page cache instead, for good.
func (w *fileWriter) writeAt(s []byte, base int64) error {
	if len(s) == 0 {
		return nil
	}
	if !w.noDirect {
		_, err := w.dfd.WriteAt(s, base)
		if err == nil {
			w.disk = max(w.disk, base+int64(len(s)))
			w.moved = true
			return nil
		}
		if !isUnsupported(err) {
			return err
		}
		w.noDirect = true
	}
	// Page cache: append what the file does not hold yet (O_APPEND, at its end).
	if from := int(w.disk - base); from < len(s) {
		if _, err := w.appendBuffered(s[from:]); err != nil {
			return err
		}
	}
	return nil
}

// appendBuffered writes p at the file's end through the page cache (with the drop-behind
// hints, at the file's true offsets).
func (w *fileWriter) appendBuffered(p []byte) (int, error) {
	if w.moved {
		if err := w.f.seekEnd(); err != nil {
			return 0, err
		}
		w.moved = false
	}
	w.drop.off = w.disk
	n, err := w.drop.Write(p)
	w.disk += int64(n)
	return n, err
}

// settle writes what the stage holds (its aligned part directly, the rest through the page
// cache) and releases it, so the file holds every byte accepted; before a timed flush's rest,
// and before Close's fsync.
func (w *fileWriter) settle() error {
	if w.stage == nil {
		return nil
	}
	s := *w.stage
	err := w.stopWriter()
	if err == nil {
		err = w.writeAt(s[:len(s)&^(directAlign-1)], w.base)
	}
	if err == nil {
		if from := int(w.disk - w.base); from < len(s) {
			_, err = w.appendBuffered(s[from:])
		}
	}
	stages.put(w.stage)
	w.stage = nil
	if cerr := w.dfd.Close(); err == nil {
		err = cerr
	}
	w.dfd = nil
	return err
}
