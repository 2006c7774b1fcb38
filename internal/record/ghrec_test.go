package record

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// ghStep is one thing a test records.
type ghStep struct {
	out        []byte
	in         []byte
	cols, rows int
	flush      bool // end the chunk here (as the 1 s timer does)
}

// ghRecord writes steps in the gatehouse format synchronously (no worker, no timer), so the
// chunk boundaries are exactly the flush steps. It returns the file and, for each chunk, the
// file offset where it ends and how many events the file holds up to there.
func ghRecord(t testing.TB, steps []ghStep, input bool) (file []byte, ends []int, counts []int) {
	t.Helper()
	var buf bytes.Buffer
	clk := newFakeClock()
	o := newSink(&buf, nil, time.Hour)
	g, err := newGhWriter(o, Options{Cols: 80, Rows: 24, Term: "xterm", Title: "t", RecordInput: input}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	events := 0
	cut := func() {
		if g.heldBytes() == 0 {
			return
		}
		g.writeHeld()
		if o.bw != nil {
			o.bw.Flush()
		}
		ends, counts = append(ends, buf.Len()), append(counts, events)
	}
	for _, s := range steps {
		clk.Advance(1500 * time.Microsecond)
		switch {
		case s.flush:
			cut()
		case s.cols > 0:
			g.resize(clk.Now(), s.cols, s.rows)
			events++
		case s.in != nil:
			g.input(clk.Now(), s.in)
			events += (len(s.in) + maxEventBytes - 1) / maxEventBytes
		default:
			g.output(clk.Now(), s.out)
			events += (len(s.out) + maxEventBytes - 1) / maxEventBytes
		}
	}
	cut()
	if _, _, err := o.finish(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), ends, counts
}

// ghSteps cuts p at random points into outputs, with flushes (chunk ends) and resizes between.
func ghSteps(r *rand.Rand, p []byte) []ghStep {
	var steps []ghStep
	for len(p) > 0 {
		n := min(len(p), 1+r.IntN(3*maxEventBytes))
		if r.IntN(3) == 0 {
			n = min(len(p), 1+r.IntN(5))
		}
		steps = append(steps, ghStep{out: p[:n]})
		p = p[n:]
		switch r.IntN(6) {
		case 0:
			steps = append(steps, ghStep{flush: true})
		case 1:
			steps = append(steps, ghStep{cols: 20 + r.IntN(300), rows: 5 + r.IntN(100)})
		}
	}
	return steps
}

// TestGhRoundTrip: bytes in = bytes replayed, for text, UTF-8 cut anywhere (also across
// chunks), binary and random bytes, with resizes and input kept in order and in time.
func TestGhRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	random := make([]byte, 3<<20)
	crand.Read(random)
	all := make([]byte, 0, 256*40)
	for i := 0; i < 40; i++ {
		for b := 0; b < 256; b++ {
			all = append(all, byte(b))
		}
	}
	cases := map[string][]byte{
		"text":          []byte(strings.Repeat("Nov 23 10:00:01 host sshd[123]: Accepted publickey for root\r\n", 20000)),
		"utf8":          randomText(r, 200000),
		"binary":        all,
		"random":        random,
		"zeros":         make([]byte, 5<<20),
		"one byte":      {0},
		"split € at 1":  []byte("\xe2"),
		"split € tail ": []byte("\x82\xac"),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			steps := ghSteps(r, in)
			// A resize and input, between outputs.
			steps = append([]ghStep{{cols: 132, rows: 43}, {in: []byte("ls\r")}}, steps...)
			file, _, _ := ghRecord(t, steps, true)
			rd, evs := readAll(t, bytes.NewReader(file))
			if rd.Format() != Gatehouse || rd.Truncated() {
				t.Fatalf("format %v truncated %v", rd.Format(), rd.Truncated())
			}
			if got := outputOf(evs, KindOutput); !bytes.Equal(got, in) {
				t.Fatalf("replayed %d bytes, recorded %d (equal prefix %d)", len(got), len(in), commonPrefix(got, in))
			}
			if got := outputOf(evs, KindInput); string(got) != "ls\r" {
				t.Fatalf("input %q", got)
			}
			// Resizes come back in order, and times never go back.
			var want, got []int
			for _, s := range steps {
				if s.cols > 0 {
					want = append(want, s.cols, s.rows)
				}
			}
			var last time.Duration
			for _, ev := range evs {
				if ev.Kind == KindResize {
					got = append(got, ev.Cols, ev.Rows)
				}
				if ev.Time < last {
					t.Fatalf("time went back: %v after %v", ev.Time, last)
				}
				last = ev.Time
			}
			if !equalInts(got, want) {
				t.Fatalf("resizes %v, want %v", got, want)
			}
			if h := rd.Header(); h.Width != 80 || h.Height != 24 || h.Env["TERM"] != "xterm" {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

// TestGhTimesAreKept: event times come back to the microsecond, without drift.
func TestGhTimesAreKept(t *testing.T) {
	var buf bytes.Buffer
	clk := newFakeClock()
	start := clk.Now()
	rec, err := New(&buf, Options{Format: Gatehouse, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	var want []time.Duration
	for i := 0; i < 1000; i++ {
		clk.Advance(time.Duration(i)*time.Millisecond + 333*time.Nanosecond)
		rec.Output([]byte("x"))
		want = append(want, clk.Now().Sub(start))
	}
	rec.Close()
	_, evs := readAll(t, &buf)
	for i, ev := range evs {
		if d := want[i] - ev.Time; d < 0 || d >= time.Microsecond {
			t.Fatalf("event %d at %v, recorded at %v", i, ev.Time, want[i])
		}
	}
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return i
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGhCutAtEveryOffset: a recording cut at every byte offset (a kill -9 or a full disk
// between two writes) reads without error to its last whole chunk, and says it was cut. A cut
// before the first chunk is whole has nothing to read and is refused as corrupt.
func TestGhCutAtEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	in := append(randomText(r, 1500), make([]byte, 1000)...)
	// Many small chunks, so that cuts fall in every part of every chunk.
	var steps []ghStep
	for len(in) > 0 {
		n := min(len(in), 1+r.IntN(40))
		steps = append(steps, ghStep{out: in[:n]})
		in = in[n:]
		switch r.IntN(3) {
		case 0:
			steps = append(steps, ghStep{flush: true})
		case 1:
			steps = append(steps, ghStep{cols: 20 + r.IntN(300), rows: 5 + r.IntN(100)})
		}
	}
	file, ends, counts := ghRecord(t, steps, false)
	if len(ends) < 10 {
		t.Fatalf("only %d chunks", len(ends))
	}
	checkCutEverywhere(t, file, ends, counts)
}

// TestGhCutAtEveryOffsetStoredAsIs: the same with random bytes, whose chunks are written as
// they are (header and CRC around the events, in place): a cut anywhere in them reads to the
// last whole chunk.
func TestGhCutAtEveryOffsetStoredAsIs(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 4))
	in := make([]byte, 3000)
	crand.Read(in)
	var steps []ghStep
	for len(in) > 0 {
		n := min(len(in), 100+r.IntN(200))
		steps = append(steps, ghStep{out: in[:n]}, ghStep{flush: true})
		in = in[n:]
	}
	file, ends, counts := ghRecord(t, steps, false)
	if asIs := chunksStoredAsIs(t, file); asIs < 5 {
		t.Fatalf("only %d of %d chunks stored as is", asIs, len(ends))
	}
	checkCutEverywhere(t, file, ends, counts)
}

// chunksStoredAsIs counts the chunks of a whole gatehouse recording written without a
// compressor.
func chunksStoredAsIs(t *testing.T, file []byte) int {
	t.Helper()
	n := 0
	for b := file[len(ghMagic):]; len(b) > 0; {
		if len(b) < chunkHeaderLen {
			t.Fatalf("%d bytes after the last chunk", len(b))
		}
		stored := binary.LittleEndian.Uint32(b)
		if stored&storedRawFlag != 0 {
			n++
		}
		stored &^= storedRawFlag | storedS2Flag
		b = b[chunkHeaderLen+int(stored):]
	}
	return n
}

// checkCutEverywhere reads file cut at every byte offset: each cut reads to its last whole
// chunk (ends, counts: ghRecord's), says whether it was truncated, and never errs.
func checkCutEverywhere(t *testing.T, file []byte, ends, counts []int) {
	t.Helper()
	_, whole := readAll(t, bytes.NewReader(file))
	for cut := 0; cut <= len(file); cut++ {
		chunks := 0
		for chunks < len(ends) && ends[chunks] <= cut {
			chunks++
		}
		rd, err := NewReader(bytes.NewReader(file[:cut]))
		if chunks == 0 {
			if err == nil || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d (before the first chunk ends): %v", cut, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut at %d: NewReader: %v", cut, err)
		}
		var n int
		for {
			ev, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("cut at %d: after %d events: %v", cut, n, err)
			}
			if ev.Kind != whole[n].Kind || !bytes.Equal(ev.Data, whole[n].Data) || ev.Time != whole[n].Time {
				t.Fatalf("cut at %d: event %d differs", cut, n)
			}
			n++
		}
		if n != counts[chunks-1] {
			t.Fatalf("cut at %d: read %d events, the %d whole chunks hold %d", cut, n, chunks, counts[chunks-1])
		}
		if rd.Truncated() != (cut != ends[chunks-1]) {
			t.Fatalf("cut at %d: Truncated()=%v", cut, rd.Truncated())
		}
	}
}

// TestGhCorruptionIsAnError: a changed byte inside a whole chunk is an error (zstd's checksum,
// the lengths) or changes nothing (a flag zstd does not need), never a silent change of what
// was recorded, and never a panic.
func TestGhCorruptionIsAnError(t *testing.T) {
	file, ends, _ := ghRecord(t, []ghStep{{out: []byte("hello world, this is recorded\r\n")}, {flush: true}, {out: []byte("second chunk\r\n")}}, false)
	_, want := readAll(t, bytes.NewReader(file))
	for i := len(ghMagic) + chunkHeaderLen; i < ends[0]; i++ {
		bad := bytes.Clone(file)
		bad[i] ^= 0x40
		rd, err := NewReader(bytes.NewReader(bad))
		var got []Event
		for err == nil {
			var ev Event
			if ev, err = rd.Next(); err == nil {
				got = append(got, ev)
			}
		}
		if errors.Is(err, io.EOF) && !bytes.Equal(outputOf(got, KindOutput), outputOf(want, KindOutput)) {
			t.Fatalf("byte %d flipped: read a different recording without an error", i)
		}
	}
}

// FuzzGhReader: whatever the bytes after the magic, the reader returns events or an error,
// within its bounds, and never panics.
func FuzzGhReader(f *testing.F) {
	file, _, _ := ghRecord(f, []ghStep{{out: []byte("hello\r\n")}, {cols: 100, rows: 30}, {flush: true}, {out: make([]byte, 1000)}, {in: []byte("x")}}, true)
	f.Add(file)
	f.Add(file[:len(file)-3])
	old, _ := asZstdChunks(f, file) // a recording made before s2 chunks
	f.Add(old)
	f.Add([]byte(ghMagic))
	f.Add([]byte(ghMagic + "\x05\x00\x00\x00\x05\x00\x00\x00hello"))
	f.Add([]byte(ghMagic + "\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 0; i < 1<<20; i++ {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if ev.Kind == KindResize && (ev.Cols <= 0 || ev.Rows <= 0) {
				t.Fatalf("resize %dx%d", ev.Cols, ev.Rows)
			}
		}
	})
}

// TestGhHashIsOfTheFile: the SHA-256 given to the audit is that of the file's bytes, as
// `sha256sum` computes it.
func TestGhHashIsOfTheFile(t *testing.T) {
	rec, path, err := Create(filepath.Join(t.TempDir(), "rec"), "h.ghrec", Options{Format: Gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	rec.Output(bytes.Repeat([]byte("some output "), 100000))
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	h := sha256.Sum256(data)
	if hex.EncodeToString(h[:]) != sum || int64(len(data)) != size {
		t.Fatalf("Close says %s/%d, the file is %x/%d", sum, size, h, len(data))
	}
	if size > 20000 {
		t.Errorf("1.2 MB of repeated text made a %d-byte recording", size)
	}
}

// TestGhExportPlaysInAsciinemaCat exports a gatehouse recording to asciicast and plays it with
// the real asciinema CLI: what it prints is what was recorded, byte for byte.
func TestGhExportPlaysInAsciinemaCat(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 3))
	in := append(randomText(r, 20000), "\r\n\x1b[1;32mdone\x1b[0m ✓\r\n"...)
	file, _, _ := ghRecord(t, ghSteps(r, in), false)
	path := filepath.Join(t.TempDir(), "export.cast")
	exportTo(t, file, path, Asciicast)

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "asciinema", "cat", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "PYTHONIOENCODING=utf-8")
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("asciinema cat: %v\n%s", err, stderr.String())
	}
	tty.Close()
	if !bytes.Equal(out.Bytes(), in) {
		t.Fatalf("asciinema cat printed %d bytes, recorded %d; equal prefix %d", out.Len(), len(in), commonPrefix(out.Bytes(), in))
	}
}

// TestGhExportPlaysInTtyplay exports to ttyrec and plays it with the real ttyplay: the output
// and the resizes (as resize sequences) come out in order; ttytime gives the duration.
func TestGhExportPlaysInTtyplay(t *testing.T) {
	steps := []ghStep{{out: []byte("$ uname\r\n")}, {flush: true}, {cols: 100, rows: 30}, {out: []byte("Linux\r\n")}, {out: []byte{0, 1, 2, 0xff}}, {out: []byte("wörld \x1b[0m\r\n")}}
	file, _, _ := ghRecord(t, steps, false)
	path := filepath.Join(t.TempDir(), "export.ttyrec")
	exportTo(t, file, path, Ttyrec)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ttyplay", "-n", path).Output()
	if err != nil {
		t.Fatalf("ttyplay -n: %v", err)
	}
	want := string(resizeSequence(80, 24)) + "$ uname\r\n" + string(resizeSequence(100, 30)) + "Linux\r\n\x00\x01\x02\xffwörld \x1b[0m\r\n"
	if string(out) != want {
		t.Errorf("ttyplay printed %q, want %q", out, want)
	}
	if _, err := exec.CommandContext(ctx, "ttytime", path).Output(); err != nil {
		t.Fatalf("ttytime: %v", err)
	}
}

func exportTo(t *testing.T, file []byte, path string, to Format) {
	t.Helper()
	var out bytes.Buffer
	if err := Export(&out, bytes.NewReader(file), to); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExportKeepsOldRecordings: existing .cast and ttyrec recordings still read, and export to
// the other formats with the same output.
func TestExportKeepsOldRecordings(t *testing.T) {
	in := []byte("old recording ✓\r\n\x1b[31mred\x1b[0m\r\n")
	for _, from := range []Format{Asciicast, Ttyrec, Gatehouse} {
		var src bytes.Buffer
		rec, _ := New(&src, Options{Format: from})
		rec.Output(in[:5])
		rec.Output(in[5:])
		rec.Close()
		for _, to := range []Format{Asciicast, Ttyrec, Gatehouse} {
			var dst bytes.Buffer
			if err := Export(&dst, bytes.NewReader(src.Bytes()), to); err != nil {
				t.Fatalf("%v -> %v: %v", from, to, err)
			}
			rd, evs := readAll(t, &dst)
			if rd.Format() != to || !bytes.Equal(outputOf(evs, KindOutput), in) {
				t.Fatalf("%v -> %v: %v %q", from, to, rd.Format(), outputOf(evs, KindOutput))
			}
		}
	}
}

// TestGhManyQuietSessionsHoldLittle: 1,000 recordings that each just printed a prompt hold a
// small buffer each until their flush, neither a 512 KiB chunk buffer (500 MiB in all) nor the
// 64 KiB write buffer the other formats hold until their flush (logged for comparison).
func TestGhManyQuietSessionsHoldLittle(t *testing.T) {
	const n = 1000
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for _, format := range []Format{Gatehouse, Asciicast, Ttyrec} {
		before := heap()
		recs := make([]Recorder, n)
		for i := range recs {
			rec, err := New(io.Discard, Options{Format: format, FlushInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			rec.Output([]byte("user@host:~$ "))
			recs[i] = rec
		}
		// Wait until every worker has taken its event (the queue is empty), then measure.
		for _, r := range recs {
			for rr := r.(*recorder); len(rr.queue) > 0; {
				runtime.Gosched()
			}
		}
		per := (int64(heap()) - int64(before)) / n
		for _, r := range recs {
			r.Close()
		}
		t.Logf("%v: %.1f KiB of heap per quiet recording (1,000) before its flush", format, float64(per)/1024)
		if format == Gatehouse && per > 24<<10 {
			t.Fatalf("%d KiB of heap per quiet recording", per>>10)
		}
	}
}

// chunkKinds counts the chunks of a whole gatehouse recording by kind: zstd frames, s2 blocks,
// stored as is.
func chunkKinds(t *testing.T, file []byte) (zstdN, s2N, asIsN int) {
	t.Helper()
	for b := file[len(ghMagic):]; len(b) > 0; {
		if len(b) < chunkHeaderLen {
			t.Fatalf("%d bytes after the last chunk", len(b))
		}
		stored := binary.LittleEndian.Uint32(b)
		switch {
		case stored&storedRawFlag != 0:
			asIsN++
		case stored&storedS2Flag != 0:
			s2N++
		default:
			zstdN++
		}
		stored &^= storedRawFlag | storedS2Flag
		b = b[chunkHeaderLen+int(stored):]
	}
	return zstdN, s2N, asIsN
}

// asZstdChunks rewrites a gatehouse recording's s2 chunks as the writer made them before s2:
// one zstd frame each (SpeedFastest, CRC on), stored = the frame's length. Chunks stored as is
// stay as they are. It also returns the new chunk ends.
func asZstdChunks(t testing.TB, file []byte) ([]byte, []int) {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithWindowSize(chunkRaw))
	if err != nil {
		t.Fatal(err)
	}
	out := []byte(ghMagic)
	var ends []int
	for b := file[len(ghMagic):]; len(b) > 0; {
		stored := binary.LittleEndian.Uint32(b)
		n := int(stored &^ (storedRawFlag | storedS2Flag))
		chunk := b[:chunkHeaderLen+n]
		b = b[len(chunk):]
		if stored&storedS2Flag == 0 {
			out = append(out, chunk...)
			ends = append(ends, len(out))
			continue
		}
		content, err := s2.Decode(nil, chunk[chunkHeaderLen:len(chunk)-4])
		if err != nil {
			t.Fatal(err)
		}
		frame := enc.EncodeAll(content, nil)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(frame)))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(content)))
		out = append(out, frame...)
		ends = append(ends, len(out))
	}
	return out, ends
}

// TestGhWritesS2Chunks: text is recorded in s2 chunks (zstd's fastest level cost 4–5 CPU-s per
// GiB of logs, s2 about a quarter; docs/performance-recording.md, third pass), and the relay
// bench's log text still takes ≤ 0.35 of its size.
func TestGhWritesS2Chunks(t *testing.T) {
	text := relayLog(4 << 20)
	var steps []ghStep
	for p := text; len(p) > 0; p = p[min(len(p), 32<<10):] {
		steps = append(steps, ghStep{out: p[:min(len(p), 32<<10)]})
	}
	file, _, _ := ghRecord(t, steps, false)
	zstdN, s2N, asIsN := chunkKinds(t, file)
	if zstdN != 0 || asIsN != 0 || s2N < 8 {
		t.Fatalf("chunks: %d zstd, %d s2, %d stored as is; want s2 only", zstdN, s2N, asIsN)
	}
	if ratio := float64(len(file)) / float64(len(text)); ratio > 0.35 {
		t.Fatalf("the log's recording is %.3f of its size, over 0.35", ratio)
	}
	_, evs := readAll(t, bytes.NewReader(file))
	if !bytes.Equal(outputOf(evs, KindOutput), text) {
		t.Fatal("the log read back differs")
	}
}

// TestGhZstdChunksStillRead: recordings written before s2 (zstd frames, and chunks stored as is
// between them) read to the same events, play in asciinema's format, and a copy cut at any byte
// offset reads to its last whole chunk.
func TestGhZstdChunksStillRead(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 7))
	random := make([]byte, 2000)
	crand.Read(random)
	steps := ghSteps(r, randomText(r, 6000))
	steps = append(steps, ghStep{cols: 120, rows: 40}, ghStep{flush: true}, ghStep{out: random}, ghStep{flush: true},
		ghStep{out: random[:700]}, ghStep{flush: true}, ghStep{out: []byte("bye\r\n")})
	file, _, counts := ghRecord(t, steps, false)
	old, ends := asZstdChunks(t, file)
	zstdN, s2N, asIsN := chunkKinds(t, old)
	if zstdN < 1 || s2N != 0 || asIsN < 1 {
		t.Fatalf("the old-style copy has %d zstd, %d s2, %d stored chunks", zstdN, s2N, asIsN)
	}
	_, want := readAll(t, bytes.NewReader(file))
	_, got := readAll(t, bytes.NewReader(old))
	if len(got) != len(want) {
		t.Fatalf("old-style copy: %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Kind != want[i].Kind || got[i].Time != want[i].Time || !bytes.Equal(got[i].Data, want[i].Data) || got[i].Cols != want[i].Cols {
			t.Fatalf("event %d differs", i)
		}
	}
	var oldCast, newCast bytes.Buffer
	if err := Export(&oldCast, bytes.NewReader(old), Asciicast); err != nil {
		t.Fatal(err)
	}
	if err := Export(&newCast, bytes.NewReader(file), Asciicast); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oldCast.Bytes(), newCast.Bytes()) {
		t.Fatal("the old-style copy exports to a different asciicast")
	}
	checkCutEverywhere(t, old, ends, counts)
}

// s2Chunk builds one s2 chunk by hand: the stored word (with the s2 flag) and the raw length as
// given, the block, and its CRC-32C (or a wrong one).
func s2Chunk(block []byte, raw uint32, goodCRC bool) []byte {
	sum := crc32.Checksum(block, castagnoli)
	if !goodCRC {
		sum++
	}
	c := binary.LittleEndian.AppendUint32(nil, uint32(len(block)+4)|storedS2Flag)
	c = binary.LittleEndian.AppendUint32(c, raw)
	c = append(c, block...)
	return binary.LittleEndian.AppendUint32(c, sum)
}

// TestGhS2ChunkBoundsRefused: hostile s2 chunks after a valid header chunk (bombs that declare
// less than they hold, lengths past the bounds, both flags, bad checksums, a corrupt block with
// a good checksum) are refused as corrupt, before anything past the bounds is allocated.
func TestGhS2ChunkBoundsRefused(t *testing.T) {
	head, _, _ := ghRecord(t, nil, false)
	bomb := s2.Encode(nil, make([]byte, 8<<20))
	small := s2.Encode(nil, []byte("o\x00\x05hello"))
	corrupt := small[:len(small)-1] // declares 8 bytes, holds 7
	bothFlags := s2Chunk(small, 8, true)
	bothFlags[3] |= storedRawFlag >> 24
	cases := map[string][]byte{
		"8 MiB of zeros declared as 100 bytes": s2Chunk(bomb, 100, true),
		"8 MiB of zeros declared as 2 MiB":     s2Chunk(bomb, maxChunkRaw, true),
		"raw length past the bound":            s2Chunk(small, maxChunkRaw+1, true),
		"raw length other than the block's":    s2Chunk(small, 9, true),
		"stored length past the bound":         append(binary.LittleEndian.AppendUint32(nil, (maxChunkStored+1)|storedS2Flag), 8, 0, 0, 0),
		"no room for the CRC":                  append(binary.LittleEndian.AppendUint32(nil, 3|storedS2Flag), 8, 0, 0, 0, 1, 2, 3),
		"both flags":                           bothFlags,
		"bad CRC":                              s2Chunk(small, 8, false),
		"corrupt block with a good CRC":        s2Chunk(corrupt, 8, true),
		"zero raw length":                      s2Chunk(small, 0, true),
	}
	for name, chunk := range cases {
		t.Run(name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(append(bytes.Clone(head), chunk...)))
			if err != nil {
				t.Fatal(err)
			}
			for err == nil {
				_, err = rd.Next()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read to %v, want ErrCorrupt", err)
			}
		})
	}
}
