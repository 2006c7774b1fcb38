package record

import (
	"bytes"
	crand "crypto/rand"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDirectWriterKeepsEveryByte: whatever the mix of small writes (page cache), bulk writes
// (the O_DIRECT stage, from any file offset) and settles (a timed flush, Close), the file holds
// exactly the bytes accepted after each settle; the same with direct I/O refused (page cache
// only) and on a tmpfs.
func TestDirectWriterKeepsEveryByte(t *testing.T) {
	dirs := map[string]string{"disk": diskDir(t), "disk-page-cache-only": diskDir(t)}
	if d, err := os.MkdirTemp("/dev/shm", "direct-test-"); err == nil {
		t.Cleanup(func() { _ = os.RemoveAll(d) }) // a test's leftovers: nothing to report
		var fs unix.Statfs_t
		if unix.Statfs(d, &fs) == nil && fs.Type == unix.TMPFS_MAGIC {
			dirs["tmpfs"] = d
		}
	}
	in := make([]byte, 6<<20)
	crand.Read(in)
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "rec")
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			rf, err := newRecFile(path, f)
			if err != nil {
				t.Fatal(err)
			}
			w := newFileWriter(rf)
			w.noDirect = name == "disk-page-cache-only"
			r := rand.New(rand.NewPCG(14, 9))
			sizes := []int{1, 100, 4095, 4096, directMin - 1, directMin, 300 << 10, directStage - 7, directStage, directStage + 4097}
			written := 0
			for i := 0; written < len(in); i++ {
				n := min(len(in)-written, sizes[r.IntN(len(sizes))])
				if got, err := w.Write(in[written : written+n]); err != nil || got != n {
					t.Fatalf("write %d of %d bytes: %d, %v", i, n, got, err)
				}
				written += n
				if r.IntN(3) == 0 || written == len(in) {
					if err := w.settle(); err != nil {
						t.Fatal(err)
					}
					if err := rf.rest(); err != nil {
						t.Fatal(err)
					}
					got, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, in[:written]) {
						t.Fatalf("after write %d: the file has %d bytes, %d accepted, %d equal", i, len(got), written, commonPrefix(got, in[:written]))
					}
				}
			}
			if name == "disk" && w.noDirect {
				t.Fatal("the disk refused direct I/O")
			}
		})
	}
}

// TestBulkRecordingBypassesThePageCache: a bulk recording (random bytes) is written with
// O_DIRECT: after Close hardly any of it is in the page cache (drop-behind alone left the last
// dropLag+1 windows, 40 MiB, cached), and it reads back whole with the SHA-256 Close gave.
func TestBulkRecordingBypassesThePageCache(t *testing.T) {
	dir := filepath.Join(diskDir(t), "rec")
	rec, path, err := Create(dir, "bulk.ghrec", Options{Format: Gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 48<<20)
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
	resident := 0
	vec := cachedPages(t, f, size)
	for _, v := range vec {
		resident += int(v & 1)
	}
	if resident > len(vec)/100 {
		t.Fatalf("%d of the recording's %d pages are cached", resident, len(vec))
	}
	checkFileSum(t, f, sum, in)
}

// TestDirectWriterReportsTheStageWritersError: a direct write that fails on the stage writer
// (here its descriptor closed behind it, as an I/O error would) comes back from a later Write or
// from settle, never lost, and nothing hangs.
func TestDirectWriterReportsTheStageWritersError(t *testing.T) {
	path := filepath.Join(diskDir(t), "rec")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := newRecFile(path, f)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.rest()
	w := newFileWriter(rf)
	chunk := make([]byte, 512<<10)
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if w.dfd == nil {
		t.Fatal("no direct descriptor after a bulk write")
	}
	w.dfd.Close()
	var werr error
	for i := 0; i < 4*directInFlight*directStage/len(chunk) && werr == nil; i++ {
		_, werr = w.Write(chunk)
	}
	if serr := w.settle(); werr == nil {
		werr = serr
	}
	if werr == nil {
		t.Fatal("the failed direct writes were not reported")
	}
}

// An asciicast event of escaped binary output is a line of more than 64 KiB: it goes past the
// buffered writer into the direct-I/O stage, and must still reach the file at the next timed
// flush while the session then sits idle (a kill -9 would otherwise lose output shown).
func TestBigAsciicastLineFlushedWhileIdle(t *testing.T) {
	dir := filepath.Join(diskDir(t), "rec")
	rec, path, err := Create(dir, "nul.cast", Options{Format: Asciicast, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	rec.Output([]byte("$ "))
	deadline := time.Now().Add(10 * time.Second)
	for { // the header and the prompt are flushed: nothing is buffered any more
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(`"$ "`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first flush never came")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec.Output(make([]byte, 32<<10)) // NULs: 6 bytes each in JSON
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 6*(32<<10) {
			return
		}
		if time.Now().After(deadline) {
			fi, _ := os.Stat(path)
			t.Fatalf("an idle recording's big line never reached the file: %d bytes", fi.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
