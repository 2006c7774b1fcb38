package record

import (
	"bytes"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestRecordingDropsItsPagesBehind: a bulk recording (random bytes, stored as they are) does not
// stay in the page cache behind the writer: once written, all but the last dropLag windows of
// the file are out of the cache (the kernel kept all of it before, 256 MiB of dirty, fresh
// pages for a 256 MiB pull), and the file still reads back whole, its SHA-256 the one Close
// returned.
func TestRecordingDropsItsPagesBehind(t *testing.T) {
	dir := filepath.Join(diskDir(t), "rec")
	rec, path, err := Create(dir, "bulk.ghrec", Options{Format: Gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, (dropLag+4)*dropWindow)
	crand.Read(in)
	for p := in; len(p) > 0; p = p[min(len(p), 32<<10):] {
		rec.Output(p[:min(len(p), 32<<10)])
	}
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vec := cachedPages(t, f, size)
	page := os.Getpagesize()
	// The windows the writer has left dropLag windows behind: [0, size-(dropLag+1)·window).
	behind := (int(size) - (dropLag+1)*dropWindow) / page
	resident := 0
	for _, v := range vec[:behind] {
		resident += int(v & 1)
	}
	if resident > behind/20 {
		t.Fatalf("%d of the %d pages behind the writer are still cached", resident, behind)
	}
	checkFileSum(t, f, sum, in)
}

// checkFileSum: the file's SHA-256 is sum, and it replays exactly in.
func checkFileSum(t *testing.T, f *os.File, sum string, in []byte) {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		t.Fatalf("file SHA-256 %s, Close said %s", got, sum)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	_, evs := readAll(t, f)
	if got := outputOf(evs, KindOutput); !bytes.Equal(got, in) {
		t.Fatalf("replayed %d bytes, recorded %d", len(got), len(in))
	}
}

// cachedPages tells, page by page, which of the file's first size bytes are in the page cache
// (mincore(2): bit 0 of each byte).
func cachedPages(t *testing.T, f *os.File, size int64) []byte {
	t.Helper()
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	vec := make([]byte, (int(size)+page-1)/page)
	// x/sys has no wrapper for mincore(2).
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		err = errno
	}
	_ = unix.Munmap(m)
	if err != nil {
		t.Fatal(err)
	}
	return vec
}

// diskDir is a temporary directory on a disk-backed file system: a tmpfs's pages are the file,
// the kernel cannot drop them. The test's temp dir when it is on a disk, else one beside the
// package's sources (removed after the test); never a skip.
func diskDir(t *testing.T) string {
	t.Helper()
	onTmpfs := func(d string) bool {
		var fs unix.Statfs_t
		if err := unix.Statfs(d, &fs); err != nil {
			t.Fatal(err)
		}
		return fs.Type == unix.TMPFS_MAGIC
	}
	if d := t.TempDir(); !onTmpfs(d) {
		return d
	}
	d, err := os.MkdirTemp(".", "dropbehind-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) }) // a test's leftovers: nothing to report
	if onTmpfs(d) {
		t.Fatal("no disk-backed directory to write to: both the temp dir and the sources are on a tmpfs")
	}
	return d
}
