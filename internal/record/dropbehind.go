package record

// Recordings are written once and read rarely (a replay, an export, an archive). Left to the
// kernel, every byte of a bulk recording stays in the page cache as a dirty page until the
// flusher gets to it, and the cache grows into memory the machine has not touched yet: on the
// development VM, writing 256 MiB cost gatehouse 190–770 ms of CPU that way (mostly the kernel's
// copy into freshly allocated pages), against a steady 80–100 ms when the file's pages are
// written back and dropped behind the writer (BenchmarkFileWrite), and the final fsync then has
// a few MiB to write, not the whole file. So a recording that owns its file starts the
// write-back of each dropWindow as soon as it is complete and, dropLag windows later, waits
// for it and drops those pages: at most dropLag×dropWindow of a recording is dirty at a time.
// Readers lose nothing (the bytes are on disk; a replay reads them back) and a kill -9 loses
// nothing more than before (only what was not yet written(2), as before).
const (
	dropWindow = 8 << 20
	dropLag    = 4
)

// dropBehind writes to f and keeps the file's pages out of the page cache behind the writer
// (see above). Its hints are advisory: an I/O error they meet is reported by the fsync at
// Close, which every owned recording does.
type dropBehind struct {
	f   *recFile // open while Write runs (recFile reopens it), resting between flushes
	off int64    // bytes written so far
}

func (d *dropBehind) Write(p []byte) (int, error) {
	n, err := d.f.Write(p)
	before := d.off
	d.off += int64(n)
	f := d.f.f // nil only when the reopen failed: no hints then (err says why)
	for w := before/dropWindow + 1; f != nil && w <= d.off/dropWindow; w++ {
		// Window w-1, [ (w-1)·dropWindow, w·dropWindow ), is complete.
		end := w * dropWindow
		startWriteback(f, end-dropWindow, dropWindow)
		if old := end - dropLag*dropWindow; old > 0 {
			dropWritten(f, old-dropWindow, dropWindow)
		}
	}
	return n, err
}
