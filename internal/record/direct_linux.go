package record

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openDirect opens the recording for direct reads and writes; it must still be the file
// Create made (see open). A file system without O_DIRECT gives errDirectUnsupported.
func (r *recFile) openDirect() (*os.File, error) {
	f, err := os.OpenFile(r.path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		if isUnsupported(err) {
			return nil, fmt.Errorf("%w: %v", errDirectUnsupported, err)
		}
		return nil, fmt.Errorf("reopen %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(fi, r.id) {
		err = errReplaced
	}
	if err != nil {
		_ = f.Close() // not the recording: the error is what matters
		return nil, fmt.Errorf("reopen %s: %w", r.path, err)
	}
	return f, nil
}

// isUnsupported: the file system refuses direct I/O or its alignment.
func isUnsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}

// stagesMapped counts the stages mapped outside the Go heap, for the memory bench.
var stagesMapped atomic.Int64

// stageMemory is a stage outside the Go heap; its cleanup unmaps it once the pool drops it
// (the *[]byte handed around points into it, so it lives while any holder has the stage).
type stageMemory struct{ b []byte }

// newStageMemory maps a stage of its own, 2 MiB aligned, and asks for a transparent huge page
// (MADV_HUGEPAGE): an O_DIRECT write pins and maps the stage's pages, once per 4 KiB page
// otherwise. On this VM writing 256 MiB with O_DIRECT cost the kernel 100–113 ms of CPU per
// GiB from a 1 MiB heap buffer, 69–85 ms from a 2 MiB one and 35–42 ms from a 2 MiB huge page
// (docs/performance-recording.md). Without huge pages (THP off) the mapping still works with
// small pages; if the mapping fails, the stage is on the Go heap.
func newStageMemory() *[]byte {
	const huge = 2 << 20
	m, err := unix.Mmap(-1, 0, directStage+huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return heapStage()
	}
	// Keep the 2 MiB-aligned part; unmap the rest (munmap of whole pages of our own mapping
	// does not fail).
	off := int(-uintptr(unsafe.Pointer(&m[0])) & (huge - 1))
	if off > 0 {
		_ = unix.Munmap(m[:off])
	}
	if tail := m[off+directStage:]; len(tail) > 0 {
		_ = unix.Munmap(tail)
	}
	b := m[off : off+directStage : off+directStage]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // a hint: small pages work too
	sm := &stageMemory{b: b[:0]}
	stagesMapped.Add(1)
	runtime.AddCleanup(sm, func(b []byte) {
		_ = unix.Munmap(b)
		stagesMapped.Add(-1)
	}, b)
	return &sm.b
}
