package record

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// The gatehouse recording format (".ghrec", the default) is built for the hot path: a relayed
// byte costs a copy, a share of an s2 block and a share of a SHA-256, whatever the byte is
// (asciicast turns a NUL into a 6-byte JSON escape). See docs/recording.md.
//
//	file   = magic chunk*
//	magic  = "GHREC\x00\x01\n"                     (8 bytes; \x01 is the format version)
//	chunk  = u32le stored | u32le raw | zstd frame  (stored = len(zstd frame), raw = its content;
//	                                                 written before s2 chunks, still read)
//	       | u32le ((n+4) | 1<<30) | u32le raw | s2 block of n bytes | u32le CRC-32C of the block
//	                                                (what the writer makes now: see s2Chunk)
//	       | u32le ((raw+4) | 1<<31) | u32le raw | raw bytes | u32le CRC-32C of them
//	                                                (a chunk stored as is: see storeRaw)
//	content of the chunks, concatenated: events, each whole inside one chunk
//	event  = kind byte | uvarint µs since the previous event | uvarint n | n bytes
//	         kind 'h' (first event only): the Header as JSON
//	         kind 'o', 'i': output, input bytes, as they came (no UTF-8 repair: replay gives
//	                        back the exact bytes)
//	         kind 'r': uvarint cols | uvarint rows
//	         kind 'm': a marker's label
//
// A chunk is one s2 block holding the events written since the previous chunk; one is
// written at every flush (each second while output flows, so a kill -9 loses at most that),
// when chunkRaw bytes wait, when the direct-I/O stage it is built in is full, and at Close. Each chunk stands alone (no window across chunks),
// so a reader stops cleanly at the first incomplete chunk: a file cut at any byte offset reads
// to its last whole chunk.
//
// s2, not zstd, since the third pass on issue 14: zstd's fastest level cost 4–5 CPU-s per GiB
// of syslog-like text on this CPU (its match finding and sequence coding), s2 about a quarter
// of that, for 0.32× of the relay bench's log against zstd's 0.20× (docs/performance-
// recording.md, "third pass"). On a bastion whose cores are busy every CPU-second of the
// recorder comes off the relay, and 0.32× is still under the 0.35× for text. The SHA-256 for the audit is that of the file's bytes (compressed),
// computed once as they are written; `sha256sum FILE` checks it.

// ghMagic opens every gatehouse recording.
const ghMagic = "GHREC\x00\x01\n"

// chunkRaw is how many event bytes a recorder gathers before it compresses them into a chunk
// (it also does at each flush). Larger chunks compress text better; this bounds the memory of a
// busy recording (the raw chunk and its compressed copy) to about 2×chunkRaw.
const chunkRaw = 512 << 10

// Reader bounds: a chunk's content is at most maxChunkRaw bytes (a writer's chunk is at most
// chunkRaw plus one event), and its stored form at most maxChunkStored.
const (
	storedRawFlag  = 1 << 31 // in a chunk's first word: the content follows as is
	storedS2Flag   = 1 << 30 // in a chunk's first word: an s2 block and its CRC-32C follow
	maxChunkRaw    = 2 << 20
	maxChunkStored = maxChunkRaw + maxChunkRaw/8 + 1024
	chunkHeaderLen = 8
)

// zstdCodec is the decoder of the zstd chunks that recordings made before the s2 chunks hold
// (they keep playing). It is safe for concurrent DecodeAll and pools its state, so an idle
// session holds no codec memory.
type zstdCodec struct {
	dec *zstd.Decoder
}

var sharedCodec = sync.OnceValues(func() (*zstdCodec, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxChunkRaw),
		zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxWindow(maxChunkRaw))
	if err != nil {
		return nil, fmt.Errorf("record: zstd decoder: %w", err)
	}
	return &zstdCodec{dec: dec}, nil
})

// rawPool keeps full-size chunk buffers for recordings that stream (bulk output), so they do not
// allocate one per chunk. A recording that shows a few lines a second starts each chunk with a
// small buffer instead: 1,000 typing sessions hold a few KiB each until their flush, not 1,000
// chunk buffers.
var rawPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkRaw+maxEventBytes+64); return &b }}

// castagnoli checks s2 chunks and chunks stored as is (older zstd frames carry their own
// checksum).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// storeRaw is how many chunks are stored as they are after one that s2 did not shrink by
// 1/64: 8 chunks (4 MiB of streaming output) between two tries. A try on random or base64
// output costs s2 about 25 µs per 512 KiB chunk (it gives up on incompressible input at ~20
// GB/s): 6 ms per GiB at this spacing, so no backoff (docs/performance-recording.md).
const storeRaw = 8

// maxChunkBuilt bounds the bytes of a chunk being built: its header, less than chunkRaw bytes
// of events, the event that fills it (kind, two uvarints, maxEventBytes) and the CRC-32C.
const maxChunkBuilt = chunkHeaderLen + chunkRaw + eventOverhead + maxEventBytes + 4

// eventOverhead bounds an event's bytes besides its data: its kind and two uvarints.
const eventOverhead = 1 + 2*binary.MaxVarintLen64

// minStagedRoom is the least room in the direct-I/O stage in which a chunk is started: less,
// and the stage is written and a fresh one taken (sink.chunkSpace).
const minStagedRoom = 128 << 10

// smallChunk is the first capacity of a chunk buffer when the previous chunk was not full.
const smallChunk = 4 << 10

// ghWriter writes the gatehouse format. Events gather in raw; writeHeld compresses them into
// one chunk and hands it to the sink (whose bytes are hashed and counted).
type ghWriter struct {
	*sink
	start time.Time
	last  time.Duration
	raw   *[]byte // chunkHeaderLen bytes kept for the chunk's header, then the events; nil when nothing is held
	// staged holds the chunk when it is built in the file's direct-I/O stage (raw then points
	// to it): written as is, it reaches the stage without a copy (sink.chunkSpace).
	staged []byte
	out    []byte // compressed chunk, reused while output flows
	bulk   bool   // the last chunk was written because it was full: take a full-size buffer
	skip   int    // chunks still to store as is, after one that did not compress
	// storedAsIs: bytes of batches stored as is not yet counted in skip (storeBatch).
	storedAsIs int
	// cut: the chunk being written is cut short by a batch stored as is (storeBatch).
	cut bool
	// storing: the last chunk planned was stored as is for good (random output): each batch is
	// probed, even while events are held (storesAsIs).
	storing bool
	begun   bool // the magic is written (with the first chunk)
	// stageFull: the chunk being written ends because its stage is full (streaming output).
	stageFull bool

	// Compress at rest: what decides to store chunks as is for the Compactor (compact_plan.go).
	deferState
}

func newGhWriter(o *sink, opts Options, start time.Time) (*ghWriter, error) {
	h := Header{Version: 1, Width: opts.Cols, Height: opts.Rows, Timestamp: start.Unix(), Title: opts.Title}
	if opts.HeaderCommand {
		h.Command = opts.Command
	}
	if opts.Term != "" || opts.Shell != "" {
		h.Env = map[string]string{}
		if opts.Term != "" {
			h.Env["TERM"] = opts.Term
		}
		if opts.Shell != "" {
			h.Env["SHELL"] = opts.Shell
		}
	}
	js, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("record: encode header: %w", err)
	}
	g := &ghWriter{sink: o, start: start, deferState: deferState{budget: opts.Defer, maxBytes: opts.MaxBytes}}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held = g
	g.event('h', start, js)
	if opts.Stealthed() {
		g.event(byte(KindMarker), start, []byte(StealthMarker))
	}
	o.eventDone()
	if o.err != nil {
		return nil, o.err
	}
	return g, nil
}

func (g *ghWriter) output(at time.Time, p []byte) { g.data(byte(KindOutput), at, p) }
func (g *ghWriter) input(at time.Time, p []byte)  { g.data(byte(KindInput), at, p) }

func (g *ghWriter) data(kind byte, at time.Time, p []byte) {
	if !g.usable() {
		return
	}
	for len(p) > 0 {
		n := min(len(p), maxEventBytes)
		g.event(kind, at, p[:n])
		p = p[n:]
	}
	g.eventDone()
}

func (g *ghWriter) resize(at time.Time, cols, rows int) {
	if !g.usable() {
		return
	}
	var b [2 * binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(max(cols, 0)))
	n += binary.PutUvarint(b[n:], uint64(max(rows, 0)))
	g.event(byte(KindResize), at, b[:n])
	g.eventDone()
}

func (g *ghWriter) marker(at time.Time, label string) {
	if !g.usable() {
		return
	}
	g.event(byte(KindMarker), at, []byte(label))
	g.eventDone()
}

// end has nothing to add: bytes are kept as they came, and the sink writes what is held.
func (g *ghWriter) end(time.Time) {}

// event appends one event to the chunk being built, and writes the chunk once it is full.
func (g *ghWriter) event(kind byte, at time.Time, p []byte) {
	var delta uint64
	delta, g.last = stepDelta(g.start, g.last, at)
	if g.raw == &g.staged && len(g.staged)+eventOverhead+len(p)+4 > cap(g.staged) {
		// The stage is full: the chunk ends here, before its 512 KiB, and the next one starts
		// in the next stage, so that stages are written whole (the kernel's cost of a direct
		// write is per write as much as per byte).
		g.stageFull = true
		g.writeHeld()
		g.stageFull, g.bulk = false, true
	}
	if g.raw == nil {
		if g.bulk {
			if g.staged = g.chunkSpace(minStagedRoom); g.staged != nil {
				g.raw = &g.staged
			} else {
				g.raw = rawPool.Get().(*[]byte)
			}
		} else {
			b := make([]byte, 0, smallChunk)
			g.raw = &b
		}
		*g.raw = append(*g.raw, make([]byte, chunkHeaderLen)...)
	}
	b := append(*g.raw, kind)
	b = binary.AppendUvarint(b, delta)
	b = binary.AppendUvarint(b, uint64(len(p)))
	b = append(b, p...)
	*g.raw = b
	if len(b)-chunkHeaderLen >= chunkRaw {
		g.writeHeld()
		g.bulk = true
	}
}

// heldBytes is the size of the events not yet compressed; callers hold mu.
func (g *ghWriter) heldBytes() int {
	if g.raw == nil {
		return 0
	}
	return len(*g.raw) - chunkHeaderLen
}

// writeHeld compresses the held events into one chunk and writes it; callers hold mu.
func (g *ghWriter) writeHeld() {
	if g.raw == nil {
		return
	}
	buf := *g.raw
	raw := buf[chunkHeaderLen:]
	if len(raw) > 0 && g.err == nil {
		// Chunks go straight to the file (one write(2) each, hashed and counted on the way):
		// they are large already, and a buffered writer would hold 64 KiB per session.
		asIs := g.skip > 0 && g.begun
		if asIs {
			g.skip--
		} else if p := g.planBegun(raw); p != planCompress {
			asIs = true // stored as is: for good (s2 finds nothing), or for the Compactor
		} else {
			out := g.out[:0]
			if !g.begun {
				out = append(out, ghMagic...)
			}
			hdr := len(out)
			// s2.Encode writes into its dst only when dst has room for the worst case; the
			// buffer is kept while output flows and compresses, and pooled (s2Buffer).
			if need := hdr + chunkHeaderLen + s2.MaxEncodedLen(len(raw)) + 4; cap(out) < need {
				g.putOut()
				out = s2Buffer(need)[:hdr]
				copy(out, ghMagic[:hdr])
			}
			block := s2.Encode(out[hdr+chunkHeaderLen:cap(out)], raw)
			stored := len(block)
			if stored > len(raw)-len(raw)/64 && g.begun {
				// Random or encrypted output (a binary, an archive), or text without repeats
				// (base64): s2 finds nothing. Store it and the next storeRaw chunks as they
				// are, then try again. A few bytes that s2 cannot shrink (a keystroke's echo)
				// say nothing of what follows, and neither do the events held when a batch is
				// stored as is (cut): the batches are probed one by one (storesAsIs).
				asIs = true
				if len(raw) >= 3*probeLen && !g.cut {
					g.skip = storeRaw
				}
			} else {
				out = out[:hdr+chunkHeaderLen+stored]
				binary.LittleEndian.PutUint32(out[hdr:], uint32(stored+4)|storedS2Flag)
				binary.LittleEndian.PutUint32(out[hdr+4:], uint32(len(raw)))
				out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(block, castagnoli))
				g.writeDirect(out)
			}
			g.out = out
			if asIs {
				g.putOut() // the next try is storeRaw chunks away: do not hold it meanwhile
			}
		}
		if asIs {
			// In place: the header goes in the room kept before the events and the CRC after
			// them, so the events are written as they are, never copied again.
			binary.LittleEndian.PutUint32(buf, uint32(len(raw)+4)|storedRawFlag)
			binary.LittleEndian.PutUint32(buf[4:], uint32(len(raw)))
			buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(raw, castagnoli))
			g.writeDirect(buf)
			buf = buf[:0]
		}
		g.begun = true
	}
	raw = buf
	if g.raw == &g.staged {
		g.staged = nil // the stage's memory: never pooled here
	} else if cap(raw) >= chunkRaw {
		*g.raw = raw[:0]
		rawPool.Put(g.raw)
	}
	g.raw, g.bulk = nil, false
}

// planBegun is plan for a chunk after the first (the first, with the magic, is compressed). It
// notes whether the chunk is stored as is for good (storesAsIs probes the next batches then).
func (g *ghWriter) planBegun(raw []byte) chunkPlan {
	if !g.begun {
		return planCompress
	}
	p := g.plan(raw, g.hc.n, g.stageFull)
	g.storing = p == planStore
	return p
}

// release drops the compressed chunk buffer once output pauses (after a timed flush), so an
// idle session holds none.
func (g *ghWriter) release() {
	g.putOut()
	if g.raw == &g.staged {
		// Only after a failure (writeHeld writes every chunk before a flush): the chunk's
		// events will not be written, and the stage it is in is about to be released.
		g.raw, g.staged = nil, nil
	}
}

// s2Cap is the size of the pooled s2 buffers: room for the largest chunk's worst case.
var s2Cap = len(ghMagic) + chunkHeaderLen + s2.MaxEncodedLen(maxChunkBuilt) + 4

// s2Pool keeps the buffers of streaming recordings' s2 chunks: a recording holds one only while
// its chunks compress (a recording of random output tries s2 once in storeRaw+1 chunks, and
// would otherwise hold 640 KiB for nothing between tries).
var s2Pool = sync.Pool{New: func() any { b := make([]byte, 0, s2Cap); return &b }}

// s2Buffer returns an empty buffer of at least need bytes: a pooled one for a chunk-sized need,
// a buffer of its own for a small chunk (a quiet session's flush).
func s2Buffer(need int) []byte {
	if need > smallChunk*4 && need <= s2Cap {
		return (*s2Pool.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, need)
}

// putOut gives the s2 buffer back to the pool if it came from there, and drops it.
func (g *ghWriter) putOut() {
	if cap(g.out) == s2Cap {
		b := g.out[:0]
		s2Pool.Put(&b)
	}
	g.out = nil
}

// errTruncated is the gatehouse reader's word for a file that ends inside a chunk (a crash
// mid-write): the reader stops there, cleanly.
var errTruncated = fmt.Errorf("%w: truncated chunk", ErrCorrupt)

// ghReader reads the chunks of a gatehouse recording and the events in them.
type ghReader struct {
	br    io.Reader
	codec *zstdCodec
	buf   []byte // the current chunk's content not yet read
	last  time.Duration
	hdr   [chunkHeaderLen]byte
}

// start reads the header event (the magic is already consumed).
func (g *ghReader) start(br io.Reader) (Header, error) {
	codec, err := sharedCodec()
	if err != nil {
		return Header{}, err
	}
	g.br, g.codec = br, codec
	kind, _, data, err := g.event()
	if err == io.EOF || err == errTruncated {
		return Header{}, fmt.Errorf("%w: gatehouse recording without a complete header", ErrCorrupt)
	}
	if err != nil {
		return Header{}, err
	}
	if kind != 'h' {
		return Header{}, fmt.Errorf("%w: gatehouse recording does not start with a header", ErrCorrupt)
	}
	var h Header
	if err := json.Unmarshal(data, &h); err != nil {
		return Header{}, fmt.Errorf("%w: gatehouse header: %v", ErrCorrupt, err)
	}
	if h.Width <= 0 || h.Height <= 0 {
		h.Width, h.Height = 80, 24
	}
	return h, nil
}

// next returns the next event; unknown kinds are skipped (a later writer may add some).
func (g *ghReader) next() (Event, error) {
	for {
		kind, t, data, err := g.event()
		if err != nil {
			return Event{}, err
		}
		switch EventKind(kind) {
		case KindOutput, KindInput, KindMarker:
			return Event{Time: t, Kind: EventKind(kind), Data: data}, nil
		case KindResize:
			cols, n := binary.Uvarint(data)
			rows, m := binary.Uvarint(data[max(n, 0):])
			if n <= 0 || m <= 0 || cols == 0 || rows == 0 || cols > 1<<16 || rows > 1<<16 {
				return Event{}, fmt.Errorf("%w: gatehouse resize event", ErrCorrupt)
			}
			return Event{Time: t, Kind: KindResize, Cols: int(cols), Rows: int(rows)}, nil
		case 'h':
			return Event{}, fmt.Errorf("%w: second gatehouse header", ErrCorrupt)
		}
	}
}

// event reads one raw event. Its data aliases the chunk, which is never reused, so events
// stay valid after the next call.
func (g *ghReader) event() (byte, time.Duration, []byte, error) {
	for len(g.buf) == 0 {
		if err := g.chunk(); err != nil {
			return 0, 0, nil, err
		}
	}
	b := g.buf
	kind := b[0]
	delta, n := binary.Uvarint(b[1:])
	if n <= 0 || delta > uint64(math.MaxInt64/int64(time.Microsecond)) {
		return 0, 0, nil, fmt.Errorf("%w: gatehouse event time", ErrCorrupt)
	}
	b = b[1+n:]
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		// Events never span chunks: a short event is corruption, not truncation.
		return 0, 0, nil, fmt.Errorf("%w: gatehouse event length", ErrCorrupt)
	}
	b = b[n:]
	data := b[:size:size]
	g.buf = b[size:]
	d := time.Duration(delta) * time.Microsecond
	if g.last > math.MaxInt64-d {
		return 0, 0, nil, fmt.Errorf("%w: gatehouse event time", ErrCorrupt)
	}
	g.last += d
	return kind, g.last, data, nil
}

// chunk reads and decompresses the next chunk into buf. io.EOF at a chunk boundary is the
// end; a file that ends inside a chunk is errTruncated.
func (g *ghReader) chunk() error {
	if _, err := io.ReadFull(g.br, g.hdr[:]); err != nil {
		switch err {
		case io.EOF:
			return io.EOF
		case io.ErrUnexpectedEOF:
			return errTruncated
		}
		return fmt.Errorf("record: read recording: %w", err)
	}
	stored := binary.LittleEndian.Uint32(g.hdr[0:])
	raw := binary.LittleEndian.Uint32(g.hdr[4:])
	asIs, isS2 := stored&storedRawFlag != 0, stored&storedS2Flag != 0
	stored &^= storedRawFlag | storedS2Flag
	switch {
	case asIs && isS2:
		return fmt.Errorf("%w: gatehouse chunk both stored as is and s2", ErrCorrupt)
	case asIs && stored != raw+4:
		return fmt.Errorf("%w: gatehouse chunk stored as is with %d bytes, its header says %d", ErrCorrupt, stored, raw)
	case isS2 && stored <= 4:
		return fmt.Errorf("%w: gatehouse s2 chunk of %d bytes", ErrCorrupt, stored)
	}
	if stored == 0 || stored > maxChunkStored || raw == 0 || raw > maxChunkRaw {
		return fmt.Errorf("%w: gatehouse chunk of %d bytes (%d stored)", ErrCorrupt, raw, stored)
	}
	in := make([]byte, stored)
	if _, err := io.ReadFull(g.br, in); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return errTruncated
		}
		return fmt.Errorf("record: read recording: %w", err)
	}
	if asIs || isS2 {
		content, sum := in[:stored-4], binary.LittleEndian.Uint32(in[stored-4:])
		if crc32.Checksum(content, castagnoli) != sum {
			return fmt.Errorf("%w: gatehouse chunk checksum", ErrCorrupt)
		}
		if asIs {
			g.buf = content
			return nil
		}
		// The block's declared length must be the header's before anything is allocated for it.
		if n, err := s2.DecodedLen(content); err != nil || n != int(raw) {
			return fmt.Errorf("%w: gatehouse s2 chunk does not hold the %d bytes its header says", ErrCorrupt, raw)
		}
		out, err := s2.Decode(make([]byte, raw), content)
		if err != nil || len(out) != int(raw) {
			return fmt.Errorf("%w: gatehouse s2 chunk: %v", ErrCorrupt, err)
		}
		g.buf = out
		return nil
	}
	out, err := g.codec.dec.DecodeAll(in, make([]byte, 0, raw))
	if err != nil {
		return fmt.Errorf("%w: gatehouse chunk: %v", ErrCorrupt, err)
	}
	if len(out) != int(raw) {
		return fmt.Errorf("%w: gatehouse chunk holds %d bytes, its header says %d", ErrCorrupt, len(out), raw)
	}
	g.buf = out
	return nil
}
