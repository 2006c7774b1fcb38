package record

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// compactRec records outs (32 KiB writes each, a resize and an input between them) into dir/name
// with a deferral budget d, and returns the path, the audited hash and size, and the deferred
// bytes.
func compactRec(t testing.TB, dir, name string, d *Deferral, outs ...[]byte) (string, string, int64, int64) {
	t.Helper()
	rec, path, err := Create(dir, name, Options{Format: Gatehouse, Defer: d, RecordInput: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		for p := out; len(p) > 0; p = p[min(len(p), 32<<10):] {
			rec.Output(p[:min(len(p), 32<<10)])
		}
		rec.Resize(100+i, 30)
		rec.Input([]byte("q"))
	}
	rec.Output([]byte("bye\r\n"))
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	return path, sum, size, DeferredBytes(rec)
}

func bigBudget() *Deferral { return &Deferral{Budget: 1 << 40} }

// testCompactor is a compactor over dir/queue whose Done keeps the results.
func testCompactor(t testing.TB, dir string, d *Deferral) (*Compactor, *[]CompactResult) {
	t.Helper()
	var results []CompactResult
	c := &Compactor{Queue: filepath.Join(dir, "queue"), Defer: d,
		Done: func(_ context.Context, r CompactResult) error { results = append(results, r); return nil }}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	return c, &results
}

func eventsOfFile(t testing.TB, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if rd.Truncated() {
		t.Fatalf("%s reads truncated", path)
	}
	return evs
}

func sameEvents(t testing.TB, what string, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.Time != w.Time || !bytes.Equal(g.Data, w.Data) || g.Cols != w.Cols || g.Rows != w.Rows {
			t.Fatalf("%s: event %d differs", what, i)
		}
	}
}

func sumOf(t testing.TB, path string) (string, int64) {
	t.Helper()
	sum, n, err := fileSum(path)
	if err != nil {
		t.Fatal(err)
	}
	return sum, n
}

func mustQueue(t testing.TB, c *Compactor, id, path, sum string, size, deferred int64) {
	t.Helper()
	if err := c.Enqueue(CompactJob{ID: id, Path: path, SHA256: sum, Size: size, Deferred: deferred}); err != nil {
		t.Fatal(err)
	}
	if !c.Held(path) {
		t.Fatal("a queued recording is not held")
	}
}

// compactData is text to defer (the relay bench's log), runs, noise and base64.
func compactData() (log, zeros, random, b64 []byte) {
	random = make([]byte, 1<<20)
	crand.Read(random)
	b64 = []byte(base64.StdEncoding.EncodeToString(random))[:1<<20]
	return relayLog(3 << 20), make([]byte, 2<<20), random, b64
}

// TestCompactRoundTrip: a recording with text stored as is (deferred), runs compressed inline,
// noise and base64 stored as is for good, resizes and input, replays the same events after its
// compaction; the file is smaller, its hash is the one given to Done, the text chunks are s2 now,
// the noise chunks are as they were; nothing is left behind.
func TestCompactRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, zeros, random, b64 := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "a.ghrec", d, log, zeros, random, b64, log[:1<<20])
	if deferred < 3<<20 || d.Pending() != deferred {
		t.Fatalf("deferred %d bytes (the Deferral holds %d), want the log's", deferred, d.Pending())
	}
	before, _ := os.ReadFile(path)
	z0, s0, r0 := chunkKinds(t, before)
	want := eventsOfFile(t, path)
	c, results := testCompactor(t, dir, d)
	mustQueue(t, c, "0123456789abcdef01234567", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(*results) != 1 || (*results)[0].Outcome != Compacted {
		t.Fatalf("results %+v", *results)
	}
	r := (*results)[0]
	newSum, newSize := sumOf(t, path)
	if r.Job.NewSHA256 != newSum || r.Job.NewSize != newSize || r.Job.SHA256 != sum || newSize >= size {
		t.Fatalf("result %+v; the file has %s, %d bytes (was %d)", r.Job, newSum, newSize, size)
	}
	sameEvents(t, "after compaction", eventsOfFile(t, path), want)
	after, _ := os.ReadFile(path)
	z1, s1, r1 := chunkKinds(t, after)
	// 2 MiB of noise and base64 stay as is: at least 3 chunks of it (chunks also end where
	// their direct-I/O stage is full, so one may straddle the noise and the text around it).
	if z1 != z0 || s1 <= s0 || r1 >= r0 || r1 < 3 {
		t.Fatalf("chunks zstd/s2/as is: before %d/%d/%d, after %d/%d/%d", z0, s0, r0, z1, s1, r1)
	}
	if c.Held(path) || d.Pending() != 0 {
		t.Fatalf("held %v, pending %d after compaction", c.Held(path), d.Pending())
	}
	if ents, _ := os.ReadDir(c.Queue); len(ents) != 0 {
		t.Fatalf("queue left with %d files", len(ents))
	}
	if _, err := os.Stat(tempPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary copy left: %v", err)
	}
	t.Logf("%d → %d bytes (%.3f)", size, newSize, float64(newSize)/float64(size))
}

// TestCompactSizes: the size figures hold after compaction: text ≤ 0.35× raw, zeros
// (compressed inline, never deferred) < 1 MiB per 512 MiB, random ≤ 1.02× (stored for good, not
// queued).
func TestCompactSizes(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, zeros, random, _ := compactData()
	c, _ := testCompactor(t, dir, d)
	for _, tc := range []struct {
		name     string
		data     []byte
		max      float64
		deferred bool
	}{
		{"log", append(append([]byte{}, log...), log...), 0.35, true},
		{"zeros", bytes.Repeat(zeros, 8), 1.0 / 512, false},
		{"random", bytes.Repeat(random, 4), 1.02, false},
	} {
		path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), tc.name+".ghrec", d, tc.data)
		if (deferred > 0) != tc.deferred {
			t.Fatalf("%s: %d bytes deferred", tc.name, deferred)
		}
		if deferred > 0 {
			mustQueue(t, c, hex.EncodeToString([]byte(tc.name+"-0123456")), path, sum, size, deferred)
			if err := c.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		_, n := sumOf(t, path)
		if ratio := float64(n) / float64(len(tc.data)); ratio > tc.max {
			t.Fatalf("%s: %.4f of its size, over %.4f", tc.name, ratio, tc.max)
		} else {
			t.Logf("%s: %.4f of its size", tc.name, ratio)
		}
	}
}

// TestCompactBudgetCompressesInline: past the budget, or with the disk low, nothing is deferred:
// the recording is compressed inline as before deferral.
func TestCompactBudgetCompressesInline(t *testing.T) {
	dir := t.TempDir()
	log, _, _, _ := compactData()
	for i, d := range []*Deferral{{Budget: chunkRaw / 2}, {Budget: 1 << 40, MinFree: 1 << 30, free: func() int64 { return 1 << 29 }}} {
		_, _, size, deferred := compactRec(t, filepath.Join(dir, "rec"), hex.EncodeToString([]byte{byte(i)})+".ghrec", d, log)
		if deferred != 0 || d.Pending() != 0 {
			t.Fatalf("deferred %d bytes (pending %d) past the budget", deferred, d.Pending())
		}
		if ratio := float64(size) / float64(len(log)); ratio > 0.35 {
			t.Fatalf("compressed inline to %.3f", ratio)
		}
	}
}

// TestCompactOldZstdFile: a recording written before s2 (zstd chunks) with chunks stored as is
// keeps its zstd chunks byte for byte; its text chunks are compacted; it replays the same.
func TestCompactOldZstdFile(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, random, _ := compactData()
	path, _, _, deferred := compactRec(t, filepath.Join(dir, "rec"), "z.ghrec", d, log, random)
	cur, _ := os.ReadFile(path)
	old, _ := asZstdChunks(t, cur)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	want := eventsOfFile(t, path)
	sum, size := sumOf(t, path)
	z0, _, r0 := chunkKinds(t, old)
	c, results := testCompactor(t, dir, d)
	mustQueue(t, c, "00112233445566778899aabb", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil || (*results)[0].Outcome != Compacted {
		t.Fatalf("%v %+v", err, *results)
	}
	after, _ := os.ReadFile(path)
	z1, s1, r1 := chunkKinds(t, after)
	if z1 != z0 || z0 == 0 || s1 == 0 || r1 >= r0 {
		t.Fatalf("chunks zstd/s2/as is after: %d/%d/%d (zstd before %d, as is %d)", z1, s1, r1, z0, r0)
	}
	sameEvents(t, "old file compacted", eventsOfFile(t, path), want)
}

// asIsChunk returns the offset of the first chunk stored as is of a gatehouse file and its
// content's length.
func asIsChunk(t testing.TB, file []byte) (int, int) {
	t.Helper()
	for off := len(ghMagic); off < len(file); {
		stored := binary.LittleEndian.Uint32(file[off:])
		n := int(stored &^ (storedRawFlag | storedS2Flag))
		if stored&storedRawFlag != 0 {
			return off, n - 4
		}
		off += chunkHeaderLen + n
	}
	t.Fatal("no chunk stored as is")
	return 0, 0
}

// TestCompactRefusesTampered: a byte changed in a chunk stored as is (its CRC fixed, so the
// file still reads) makes the file's hash differ from the audited one: it is not compacted, kept
// byte for byte, Done hears "refused" with the hash found, and the job leaves the queue.
func TestCompactRefusesTampered(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "t.ghrec", d, log)
	file, _ := os.ReadFile(path)
	off, n := asIsChunk(t, file)
	content := file[off+chunkHeaderLen : off+chunkHeaderLen+n]
	content[100] ^= 1
	binary.LittleEndian.PutUint32(file[off+chunkHeaderLen+n:], crc32.Checksum(content, castagnoli))
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	eventsOfFile(t, path) // it still reads
	tampered, _ := sumOf(t, path)
	c, results := testCompactor(t, dir, d)
	mustQueue(t, c, "aabbccddeeff001122334455", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(*results) != 1 || (*results)[0].Outcome != Refused || (*results)[0].Found != tampered {
		t.Fatalf("results %+v", *results)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, file) {
		t.Fatal("a tampered recording was changed")
	}
	if c.Held(path) || d.Pending() != 0 {
		t.Fatal("a refused job stays queued")
	}
	if _, err := os.Stat(tempPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary copy left: %v", err)
	}
}

// fullDiskFile refuses writes past limit bytes with ENOSPC, as a full disk does.
type fullDiskFile struct {
	f     *os.File
	limit int
}

func (w *fullDiskFile) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n, _ := w.f.Write(p[:w.limit])
		w.limit = 0
		return n, &os.PathError{Op: "write", Path: w.f.Name(), Err: syscall.ENOSPC}
	}
	w.limit -= len(p)
	return w.f.Write(p)
}

func (w *fullDiskFile) Close() error { return w.f.Close() }

// TestCompactFullDisk: a disk that fills during the compaction aborts it: the original stays
// byte for byte, no partial copy is left, the job stays queued; the recording is no longer held
// from the archive (Next is told of it once, as it is: the evidence leaves the node while its
// disk is full); the next pass, with room, compacts it and tells Next of the compacted file.
func TestCompactFullDisk(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "f.ghrec", d, log)
	orig, _ := os.ReadFile(path)
	want := eventsOfFile(t, path)
	c, results := testCompactor(t, dir, d)
	c.create = func(p string) (io.WriteCloser, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		return &fullDiskFile{f: f, limit: 300 << 10}, err
	}
	var told []string
	c.Next = func(p, sum string, _ int64) { told = append(told, p+" "+sum) }
	mustQueue(t, c, "ffeeddccbbaa998877665544", path, sum, size, deferred)
	for range 2 {
		err := c.Pass(context.Background())
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("pass on a full disk: %v", err)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, orig) {
		t.Fatal("the original changed on a full disk")
	}
	if _, err := os.Stat(tempPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial copy left: %v", err)
	}
	if !c.Held(path) || c.Withheld(path) || len(told) != 1 || told[0] != path+" " || len(*results) != 0 || d.Pending() != deferred {
		t.Fatalf("queued %v, withheld %v, Next told %q, results %d, pending %d after a full disk", c.Held(path), c.Withheld(path), told, len(*results), d.Pending())
	}
	c.create = nil // room again
	if err := c.Pass(context.Background()); err != nil || len(*results) != 1 || (*results)[0].Outcome != Compacted {
		t.Fatalf("retry: %v %+v", err, *results)
	}
	if len(told) != 2 || told[1] != path+" "+(*results)[0].Job.NewSHA256 {
		t.Fatalf("Next told %q after the compaction", told)
	}
	sameEvents(t, "compacted after a full disk", eventsOfFile(t, path), want)
}

// TestCompactReplayDuringCompaction: a replay that opened the file before the compaction reads
// it whole (its descriptor keeps the old file), and one opened after reads the same events.
func TestCompactReplayDuringCompaction(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, zeros, random, _ := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "r.ghrec", d, log, zeros, random, log)
	want := eventsOfFile(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	for range 3 {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	c, results := testCompactor(t, dir, d)
	mustQueue(t, c, "0a0b0c0d0e0f101112131415", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil || (*results)[0].Outcome != Compacted {
		t.Fatalf("%v %+v", err, *results)
	}
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	sameEvents(t, "replay across the compaction", got, want)
	sameEvents(t, "replay after it", eventsOfFile(t, path), want)
}

// TestCompactQueueSurvivesRestart: a job queued by one compactor is found by the next one (its
// marker), with its bytes in the Deferral; a torn marker copy is removed.
func TestCompactQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	log, _, _, _ := compactData()
	d := bigBudget()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "q.ghrec", d, log)
	c, _ := testCompactor(t, dir, d)
	mustQueue(t, c, "111122223333444455556666", path, sum, size, deferred)
	torn := filepath.Join(c.Queue, "777788889999aaaabbbbcccc.json.tmp")
	if err := os.WriteFile(torn, []byte(`{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := bigBudget()
	c2, results := testCompactor(t, dir, d2)
	if !c2.Held(path) || d2.Pending() != deferred {
		t.Fatalf("after a restart: held %v, pending %d", c2.Held(path), d2.Pending())
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a torn marker copy stays")
	}
	if err := c2.Pass(context.Background()); err != nil || len(*results) != 1 || (*results)[0].Outcome != Compacted {
		t.Fatalf("%v %+v", err, *results)
	}
	if err := c2.Enqueue(CompactJob{ID: "../x", Path: path, SHA256: sum}); err == nil || !strings.Contains(err.Error(), "bad id") {
		t.Fatalf("a marker name out of the queue: %v", err)
	}
}

// TestCompactNearTheSizeCap: a recording stops deferring at half its size cap (the cap applies
// to the file's bytes: text stored raw would reach it at a third of what it holds compressed),
// so a log that fits compressed is recorded whole.
func TestCompactNearTheSizeCap(t *testing.T) {
	dir := t.TempDir()
	log := relayLog(6 << 20)
	d := bigBudget()
	limited := false
	rec, path, err := Create(dir+"/rec", "cap.ghrec", Options{Format: Gatehouse, Defer: d, MaxBytes: 4 << 20, OnLimit: func() { limited = true }})
	if err != nil {
		t.Fatal(err)
	}
	for p := log; len(p) > 0; p = p[min(len(p), 32<<10):] {
		rec.Output(p[:min(len(p), 32<<10)])
	}
	_, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	deferred := DeferredBytes(rec)
	if deferred == 0 || deferred > 2<<20 || size > 4<<20 || limited {
		t.Fatalf("deferred %d bytes, file %d bytes, cap 4 MiB, limited %v", deferred, size, limited)
	}
	if !bytes.Equal(outputOf(eventsOfFile(t, path), KindOutput), log) {
		t.Fatal("the log is not whole in its recording")
	}
}

// TestCompactKeepsATornTail: a recording whose last chunk is torn (a gatehouse killed while
// writing it) is compacted with the torn bytes kept after the same chunks: it reads to the same
// last event, and reports itself truncated, as before.
func TestCompactKeepsATornTail(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, _, _, _ := compactData()
	path, _, _, deferred := compactRec(t, filepath.Join(dir, "rec"), "torn.ghrec", d, log)
	file, _ := os.ReadFile(path)
	off, n := asIsChunk(t, file)
	tail := file[off : off+chunkHeaderLen+n/2]
	if err := os.WriteFile(path, append(file, tail...), 0o600); err != nil {
		t.Fatal(err)
	}
	torn, _ := os.ReadFile(path)
	want := readTorn(t, torn)
	sum, size := sumOf(t, path)
	c, results := testCompactor(t, dir, d)
	mustQueue(t, c, "0badc0de0badc0de0badc0de", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil || (*results)[0].Outcome != Compacted {
		t.Fatalf("%v %+v", err, *results)
	}
	after, _ := os.ReadFile(path)
	if !bytes.HasSuffix(after, tail) || len(after) >= len(torn) {
		t.Fatalf("%d bytes after, %d before; the torn tail kept: %v", len(after), len(torn), bytes.HasSuffix(after, tail))
	}
	sameEvents(t, "torn file compacted", readTorn(t, after), want)
}

// readTorn reads a recording whose last chunk is torn: every event, then a clean truncation.
func readTorn(t *testing.T, data []byte) []Event {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if !rd.Truncated() {
		t.Fatal("a torn file does not read as truncated")
	}
	return evs
}

// TestCompactEnqueueOverAQueuedJob: a restart finds a job's marker (its deferred bytes in the
// Deferral) and the same session is queued again (sessionlog's Interrupted, its row still open
// because the store failed at its close): the bytes of the first marker are given back once the
// job is done, and a file already replaced still gets its compaction recorded (old hash to new).
func TestCompactEnqueueOverAQueuedJob(t *testing.T) {
	for _, renamed := range []bool{false, true} {
		dir := t.TempDir()
		log, _, _, _ := compactData()
		d := bigBudget()
		path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "q.ghrec", d, log)
		if deferred == 0 {
			t.Fatal("nothing deferred")
		}
		c, _ := testCompactor(t, dir, d)
		const id = "111122223333444455556666"
		mustQueue(t, c, id, path, sum, size, deferred)
		if renamed {
			// The compaction got as far as the rename; its outcome was not recorded (Done failed).
			c.Done = func(context.Context, CompactResult) error { return errors.New("store away") }
			if err := c.Pass(context.Background()); err == nil {
				t.Fatal("Done's error is not reported")
			}
		}
		d2 := &Deferral{Budget: 1 << 40}
		c2, results := testCompactor(t, dir, d2)
		now, nowSize := sumOf(t, path)
		mustQueue(t, c2, id, path, now, nowSize, 0) // Interrupted: the file's hash now, nothing deferred
		if err := c2.Pass(context.Background()); err != nil || len(*results) != 1 {
			t.Fatalf("renamed %v: %v %+v", renamed, err, *results)
		}
		if p := d2.Pending(); p != 0 {
			t.Errorf("renamed %v: %d bytes stay pending after the job is done", renamed, p)
		}
		r := (*results)[0]
		if r.Outcome != Compacted || r.Job.SHA256 != sum {
			t.Errorf("renamed %v: outcome %s from %s, want compacted from the audited %s", renamed, r.Outcome, r.Job.SHA256, sum)
		}
	}
}

// TestCompactMarkerIDStaysInTheQueue: a marker whose id is not its own file name (a path out of
// the queue) is not a job: the in-process compaction would write its marker where the id points.
func TestCompactMarkerIDStaysInTheQueue(t *testing.T) {
	dir := t.TempDir()
	log, _, _, _ := compactData()
	d := bigBudget()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "q.ghrec", d, log)
	queue := filepath.Join(dir, "q", "queue")
	if err := os.MkdirAll(queue, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(CompactJob{ID: "../../escaped", Path: path, SHA256: sum, Size: size, Deferred: deferred})
	if err := os.WriteFile(filepath.Join(queue, "111122223333444455556666.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Compactor{Queue: queue, Defer: &Deferral{Budget: 1 << 40}}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	_ = c.Pass(context.Background())
	if _, err := os.Stat(filepath.Join(dir, "escaped.json")); err == nil {
		t.Fatal("a marker's id wrote a file out of the queue")
	}
	if c.Held(path) {
		t.Fatal("a marker whose id is not its name is a job")
	}
}

// TestCompactNextWhileHeld: the archive learns the compacted file's hash (Next) while the file is
// still held, and the hold ends under the same lock: an archive pass in between would ship the
// new file against the old hash (a false tamper alarm, then a second upload).
func TestCompactNextWhileHeld(t *testing.T) {
	dir := t.TempDir()
	d := bigBudget()
	log, zeros, random, b64 := compactData()
	path, sum, size, deferred := compactRec(t, filepath.Join(dir, "rec"), "a.ghrec", d, log, zeros, random, b64)
	c, results := testCompactor(t, dir, d)
	var calls int
	c.Next = func(p, newSum string, newSize int64) {
		calls++
		_, held := c.held[p] // c.mu is held here: read the map directly
		if !held || c.mu.TryLock() {
			t.Errorf("Next(%s) called after the hold ended (held %v)", p, held)
		}
		if fileSum, fileSize := sumOf(t, p); newSum != fileSum || newSize != fileSize {
			t.Errorf("Next gave %s/%d, the file is %s/%d", newSum, newSize, fileSum, fileSize)
		}
	}
	mustQueue(t, c, "0123456789abcdef01234567", path, sum, size, deferred)
	if err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || len(*results) != 1 || (*results)[0].Outcome != Compacted || c.Held(path) {
		t.Fatalf("Next called %d times, results %+v, held after %v", calls, *results, c.Held(path))
	}
}
