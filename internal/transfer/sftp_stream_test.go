package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"testing"
)

// session is an SFTP upload then download of data in OpenSSH's 32 KiB requests, as the two
// byte streams a relay sees (client's, target's), in the order the replies may come.
func session(data []byte) (steps [][2][]byte) {
	add := func(client bool, p []byte) {
		if client {
			steps = append(steps, [2][]byte{p, nil})
		} else {
			steps = append(steps, [2][]byte{nil, p})
		}
	}
	add(true, packet(fxpInit, uint32(3)))
	add(false, packet(2, uint32(3)))
	add(true, packet(fxpOpen, uint32(1), "/up", uint32(fxfWrite|fxfCreat), uint32(0)))
	add(false, packet(fxpHandle, uint32(1), "HANDLE-W"))
	id := uint32(10)
	var writes, acks []byte
	for off := 0; off < len(data); off += 32768 {
		end := min(off+32768, len(data))
		writes = append(writes, packet(fxpWrite, id, "HANDLE-W", uint64(off), data[off:end])...)
		acks = append(acks, packet(fxpStatus, id, uint32(0))...)
		id++
	}
	add(true, writes)
	add(false, acks)
	add(true, packet(fxpClose, id, "HANDLE-W"))
	add(false, packet(fxpStatus, id, uint32(0)))
	id++
	add(true, packet(fxpOpen, id, "/down", uint32(fxfRead), uint32(0)))
	add(false, packet(fxpHandle, id, "HANDLE-R"))
	id++
	var reads, datas []byte
	for off := 0; off < len(data); off += 32768 {
		end := min(off+32768, len(data))
		reads = append(reads, packet(fxpRead, id, "HANDLE-R", uint64(off), uint32(32768))...)
		datas = append(datas, packet(fxpData, id, data[off:end])...)
		id++
	}
	add(true, reads)
	add(false, datas)
	add(true, packet(fxpClose, id, "HANDLE-R"))
	add(false, packet(fxpStatus, id, uint32(0)))
	return steps
}

// replay feeds steps to s, each cut in pieces of chunk bytes (0: whole), and returns the events
// and the first error.
func replay(s *SFTP, evs *[]Event, steps [][2][]byte, chunk int) ([]Event, error) {
	for _, st := range steps {
		for i, b := range st {
			for len(b) > 0 {
				k := len(b)
				if chunk > 0 {
					k = min(chunk, len(b))
				}
				var err error
				if i == 0 {
					err = s.ClientBytes(b[:k])
				} else {
					err = s.ServerBytes(b[:k])
				}
				if err != nil {
					return *evs, err
				}
				b = b[k:]
			}
		}
	}
	s.Close()
	return *evs, nil
}

// TestSFTPStreamedSameAsWhole: however the relay's reads cut the stream (a byte at a time, across
// the 32 KiB packets, whole), the events are those of parsing each packet whole, and the hashes
// are the file's.
func TestSFTPStreamedSameAsWhole(t *testing.T) {
	data := make([]byte, 300_001)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	steps := session(data)
	ref, evs := collect()
	ref.gatherAll = true
	want, err := replay(ref, evs, steps, 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if len(want) != 4 || want[1].SHA256Write != h || want[1].BytesWritten != int64(len(data)) ||
		want[3].SHA256Read != h || want[3].BytesRead != int64(len(data)) {
		t.Fatalf("reference events %+v", want)
	}
	for _, chunk := range []int{0, 1, 3, 13, 4095, 4096, 32768, 32768 + 13, 32768 + 25, 65536, 1 << 20} {
		s, evs := collect()
		got, err := replay(s, evs, steps, chunk)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("chunk %d: err %v, events %+v, want %+v", chunk, err, got, want)
		}
		if len(s.client.buf) != 0 || s.client.left != 0 || cap(s.client.buf) > keepBuf {
			t.Errorf("chunk %d: state left %d bytes gathered, %d to stream", chunk, len(s.client.buf), s.client.left)
		}
	}
}

// FuzzSFTPStreamed: the streaming parser, fed in pieces of any size, tells exactly what parsing
// every packet whole tells, refusals included.
func FuzzSFTPStreamed(f *testing.F) {
	big := bytes.Repeat([]byte("z"), 5000)
	f.Add(packet(fxpOpen, uint32(1), "/f", uint32(3), uint32(0)), packet(fxpHandle, uint32(1), "H"),
		packet(fxpWrite, uint32(2), "H", uint64(0), big), uint16(7))
	f.Add(packet(fxpRead, uint32(4), "H", uint64(0), uint32(5000)), packet(fxpData, uint32(4), big),
		packet(fxpWrite, uint32(2), "H", uint64(0), big[:4000]), uint16(4097))
	f.Add([]byte{0, 0, 0x14, 0, fxpWrite, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, []byte{0, 0, 0x20, 0, fxpData}, []byte{0, 0, 0, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, client1, server, client2 []byte, chunk uint16) {
		// The directions take turns at packet boundaries, as a client and a target do (a
		// streamed packet is attributed when it begins, a whole one when it ends: an
		// interleaving inside a packet may differ); the last may end mid-packet.
		steps := [][2][]byte{{wholePackets(client1), nil}, {nil, wholePackets(server)}, {client2, nil}}
		ref, revs := collect()
		ref.gatherAll = true
		want, werr := replay(ref, revs, steps, 0)
		s, evs := collect()
		got, gerr := replay(s, evs, steps, int(chunk))
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("chunk %d: err %v / %v\nstreamed %+v\nwhole    %+v", chunk, gerr, werr, got, want)
		}
	})
}

// BenchmarkSFTPUpload is the audit's cost per byte of an upload in OpenSSH's 32 KiB writes, fed
// as a relay reads it (32 KiB at a time, across packets): the hash, and no allocation.
func BenchmarkSFTPUpload(b *testing.B) { benchSFTP(b, true) }

// BenchmarkSFTPDownload is the same for a download's read replies.
func BenchmarkSFTPDownload(b *testing.B) { benchSFTP(b, false) }

func benchSFTP(b *testing.B, up bool) {
	data := bytes.Repeat([]byte{0xa5}, 32768)
	s := NewSFTP(func(Event) {})
	_ = s.ClientBytes(packet(fxpOpen, uint32(1), "/f", uint32(fxfWrite|fxfRead), uint32(0)))
	_ = s.ServerBytes(packet(fxpHandle, uint32(1), "H"))
	const per = 64 // packets per stream piece
	var stream, other []byte
	for i := range per {
		if up {
			stream = append(stream, packet(fxpWrite, uint32(2+i), "H", uint64(i*len(data)), data)...)
			other = append(other, packet(fxpStatus, uint32(2+i), uint32(0))...)
		} else {
			other = append(other, packet(fxpRead, uint32(2+i), "H", uint64(i*len(data)), uint32(len(data)))...)
			stream = append(stream, packet(fxpData, uint32(2+i), data)...)
		}
	}
	b.SetBytes(int64(per * len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if up {
			// Offsets repeat: the hash stops after the first round, so rewind the file's order.
			s.files["H"].nextWr, s.files["H"].wOrder = 0, true
			feedChunks(b, s.ClientBytes, stream)
			feedChunks(b, s.ServerBytes, other)
			continue
		}
		s.files["H"].nextRead, s.files["H"].rOrder = 0, true
		feedChunks(b, s.ClientBytes, other)
		feedChunks(b, s.ServerBytes, stream)
	}
}

func feedChunks(b *testing.B, feed func([]byte) error, p []byte) {
	for len(p) > 0 {
		k := min(32768, len(p))
		if err := feed(p[:k]); err != nil {
			b.Fatal(err)
		}
		p = p[k:]
	}
}

// wholePackets is the longest prefix of b made of whole packets (by their length fields).
func wholePackets(b []byte) []byte {
	i := 0
	for len(b)-i >= 4 {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n > len(b)-i-4 {
			break
		}
		i += 4 + n
	}
	return b[:i]
}

// TestSFTPCutMidPacket: a session that ends in the middle of a streamed write or read reply
// (the target never acted on it) reports the file as it was before that packet: bytes and
// SHA-256 of the whole packets only.
func TestSFTPCutMidPacket(t *testing.T) {
	data := bytes.Repeat([]byte("q"), 3*32768)
	steps := session(data)
	// Cut inside the third write (upload), or inside the third data reply (download).
	for _, tc := range []struct {
		name string
		step int // index in steps of the stream that is cut
	}{{"write", 4}, {"read reply", 11}} {
		s, evs := collect()
		var cut [][2][]byte
		for i, st := range steps[:tc.step+1] {
			if i == tc.step {
				b := st[0]
				if b == nil {
					b = st[1]
				}
				b = b[:len(b)-1000] // the third packet's last 1000 bytes never come
				if st[0] != nil {
					st = [2][]byte{b, nil}
				} else {
					st = [2][]byte{nil, b}
				}
			}
			cut = append(cut, st)
		}
		got, err := replay(s, evs, cut, 4096)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data[:2*32768])
		last := got[len(got)-1]
		n, h := last.BytesWritten, last.SHA256Write
		if tc.name != "write" {
			n, h = last.BytesRead, last.SHA256Read
		}
		if last.Op != "close" || n != 2*32768 || h != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %+v, want %d bytes and the SHA-256 of the first two packets", tc.name, last, 2*32768)
		}
	}
}
