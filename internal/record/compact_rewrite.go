package record

// The file part of a compaction that reads and writes chunks (compact.go: the queue and the
// steps around it).

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/klauspost/compress/s2"
)

func writeAll(w io.Writer, p []byte) error {
	_, err := w.Write(p)
	return err
}

// fileSum is the SHA-256 and size of the file at p.
func fileSum(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = f.Close() }() // read only
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// rewrite copies a gatehouse recording from r to w, each chunk stored as is that s2 shrinks by
// 1/64 compressed; chunks are never merged or split (events stay where they were), and a torn
// last chunk is copied as it is. rerr is a read error (the file is not a gatehouse recording
// that reads: nothing is to be replaced), err a write error. Memory: one chunk in and one out
// (≤ 2.3 MiB each).
func rewrite(w io.Writer, r io.Reader) (rerr, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var magic [len(ghMagic)]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil || string(magic[:]) != ghMagic {
		return errors.New("not a gatehouse recording"), nil
	}
	if _, err := w.Write(magic[:]); err != nil {
		return nil, err
	}
	in := make([]byte, chunkHeaderLen+maxChunkStored)
	var out []byte
	for {
		hdr := in[:chunkHeaderLen]
		if n, err := io.ReadFull(br, hdr); err == io.EOF {
			return nil, nil
		} else if err == io.ErrUnexpectedEOF {
			return nil, writeAll(w, hdr[:n]) // a torn tail (a crash mid-write): kept as it is
		} else if err != nil {
			return fmt.Errorf("chunk header: %w", err), nil
		}
		stored := binary.LittleEndian.Uint32(hdr)
		raw := binary.LittleEndian.Uint32(hdr[4:])
		asIs := stored&storedRawFlag != 0
		n := stored &^ (storedRawFlag | storedS2Flag)
		if n == 0 || n > maxChunkStored || raw > maxChunkRaw || asIs && n != raw+4 {
			return fmt.Errorf("%w: chunk of %d bytes (%d stored)", ErrCorrupt, raw, n), nil
		}
		chunk := in[:chunkHeaderLen+n]
		if m, err := io.ReadFull(br, chunk[chunkHeaderLen:]); err == io.ErrUnexpectedEOF || err == io.EOF {
			// A torn last chunk (a session gatehouse did not close): its bytes stay, after the
			// same chunks as before, so every reader stops at the same event.
			return nil, writeAll(w, chunk[:chunkHeaderLen+m])
		} else if err != nil {
			return fmt.Errorf("chunk: %w", err), nil
		}
		if !asIs {
			// s2 and zstd chunks (older files) are copied as they are.
			if _, err := w.Write(chunk); err != nil {
				return nil, err
			}
			continue
		}
		content := chunk[chunkHeaderLen : chunkHeaderLen+raw]
		if crc32.Checksum(content, castagnoli) != binary.LittleEndian.Uint32(chunk[chunkHeaderLen+raw:]) {
			return fmt.Errorf("%w: chunk checksum", ErrCorrupt), nil
		}
		if need := chunkHeaderLen + s2.MaxEncodedLen(int(raw)) + 4; cap(out) < need {
			out = make([]byte, need)
		}
		block := s2.Encode(out[chunkHeaderLen:cap(out)], content)
		if len(block) > int(raw)-int(raw)/64 {
			if _, err := w.Write(chunk); err != nil {
				return nil, err
			}
			continue
		}
		o := out[:chunkHeaderLen+len(block)]
		binary.LittleEndian.PutUint32(o, uint32(len(block)+4)|storedS2Flag)
		binary.LittleEndian.PutUint32(o[4:], raw)
		o = binary.LittleEndian.AppendUint32(o, crc32.Checksum(block, castagnoli))
		if _, err := w.Write(o); err != nil {
			return nil, err
		}
	}
}
