package transfer

// The stream side of the SFTP audit: whole packets are parsed where they lie, and the data of
// writes and read replies is hashed as it passes (never copied).

import (
	"encoding"
	"encoding/binary"
	"fmt"
)

func (s *SFTP) feed(st *stream, p []byte, client bool) error {
	if s.failed != nil {
		return s.failed
	}
	for len(p) > 0 {
		if st.left > 0 { // a streamed packet's data: counted and hashed in place
			n := min(uint32(len(p)), st.left)
			st.pass(p[:n])
			st.left -= n
			p = p[n:]
			if st.left == 0 {
				st.into = nil
			}
			continue
		}
		if len(st.buf) == 0 && len(p) >= 4 && !s.gatherAll {
			// Nothing gathered: whole packets are parsed where they lie.
			n := binary.BigEndian.Uint32(p)
			if n < 1 || n > MaxPacket {
				return s.refuse(fmt.Sprintf("packet of %d bytes", n))
			}
			if uint64(len(p)-4) >= uint64(n) {
				if err := s.handle(p[4:4+n], client); err != nil {
					return err
				}
				p = p[4+n:]
				continue
			}
		}
		// Gather the length, then the packet's head; stream its data when it is a write's or a
		// read reply's, else gather it whole.
		want := 4
		if len(st.buf) >= 4 {
			n := binary.BigEndian.Uint32(st.buf)
			want = 4 + int(n)
			if head, ok := dataHead(st.buf[4:], n, client); ok && !s.gatherAll {
				if head < 0 { // the head is complete: the rest streams
					err := s.beginData(st, st.buf[4:], client)
					st.reset()
					if err != nil {
						return err
					}
					continue
				}
				want = 4 + head
			}
		}
		k := min(want-len(st.buf), len(p))
		st.buf = append(st.buf, p[:k]...)
		p = p[k:]
		if len(st.buf) == 4 {
			if n := binary.BigEndian.Uint32(st.buf); n < 1 || n > MaxPacket {
				return s.refuse(fmt.Sprintf("packet of %d bytes", n))
			}
		}
		if len(st.buf) >= 4 && len(st.buf) == 4+int(binary.BigEndian.Uint32(st.buf)) {
			err := s.handle(st.buf[4:], client)
			st.reset()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (st *stream) reset() {
	if cap(st.buf) > keepBuf {
		st.buf = nil
		return
	}
	st.buf = st.buf[:0]
}

// save keeps what the streamed packet about to begin may change of f (before beginData's).
func (st *stream) save(f *file, read bool) {
	st.passed = 0
	h := f.whash
	st.order, st.next = f.wOrder, f.nextWr
	if read {
		h = f.rhash
		st.order, st.next = f.rOrder, f.nextRead
	}
	st.hashState = st.hashState[:0]
	if a, ok := h.(encoding.BinaryAppender); ok && st.order {
		st.hashState, _ = a.AppendBinary(st.hashState) // sha256's digest: no error
	}
}

// undo forgets a streamed packet cut short: its file is as if it never began.
func (st *stream) undo() {
	f := st.into
	if f == nil || st.left == 0 {
		return
	}
	h := f.whash
	if st.read {
		h = f.rhash
		f.read -= st.passed
		f.rOrder, f.nextRead = st.order, st.next
	} else {
		f.written -= st.passed
		f.wOrder, f.nextWr = st.order, st.next
	}
	if st.hash && st.passed > 0 {
		// The digest has the cut packet's first bytes: back to its state before them. Should
		// that fail (sha256's own state: it cannot), no hash rather than a wrong one.
		u, ok := h.(encoding.BinaryUnmarshaler)
		if !ok || len(st.hashState) == 0 || u.UnmarshalBinary(st.hashState) != nil {
			if st.read {
				f.rOrder = false
			} else {
				f.wOrder = false
			}
		}
	}
	st.into, st.left = nil, 0
}

// pass counts (and hashes) a piece of a streamed packet's data.
func (st *stream) pass(b []byte) {
	f := st.into
	if f == nil {
		return
	}
	st.passed += int64(len(b))
	if st.read {
		f.read += int64(len(b))
		if st.hash {
			f.rhash.Write(b)
		}
		return
	}
	f.written += int64(len(b))
	if st.hash {
		f.whash.Write(b)
	}
}

// Streamed packets: a write (client) is type, id, handle, offset, data; a read's reply (server)
// is type, id, data. Their data is streamed only when it ends the packet exactly; any other
// shape is gathered whole and parsed (or refused) as every packet is.
const (
	writeFixed = 1 + 4 + 4 // type, id, handle length
	dataFixed  = 1 + 4 + 4 // type, id, data length
	writeTail  = 8 + 4     // offset, data length after the handle
	minStream  = 4 << 10   // smaller packets are simply gathered
	_          = writeFixed + dataFixed
)

// dataHead says, for a packet of n bytes whose first bytes are b, whether its data may stream
// (ok) and then how many head bytes are needed (head), or -1 when b holds the whole head and the
// data length matches the packet's.
func dataHead(b []byte, n uint32, client bool) (head int, ok bool) {
	// Once it says no for a packet it says no whatever more bytes come, and it never asks for
	// more than the head: what was gathered is the head and nothing of the data.
	if n < minStream {
		return 0, false
	}
	if len(b) < 1 {
		return 1, true // the type decides
	}
	switch {
	case client && b[0] == fxpWrite:
		if len(b) < writeFixed {
			return writeFixed, true
		}
		h := binary.BigEndian.Uint32(b[5:])
		if uint64(h) > uint64(n) {
			return 0, false
		}
		head = writeFixed + int(h) + writeTail
	case !client && b[0] == fxpData:
		head = dataFixed
	default:
		return 0, false
	}
	if head > int(n) {
		return 0, false
	}
	if len(b) < head {
		return head, true
	}
	if binary.BigEndian.Uint32(b[head-4:]) != n-uint32(head) {
		return 0, false // not the shape streamed: gathered whole
	}
	return -1, true
}

// beginData starts streaming the data of a write or a read's reply whose head is b, with what
// parsing the whole packet would do before its data (clientPacket, serverPacket).
func (s *SFTP) beginData(st *stream, b []byte, client bool) error {
	r := &reader{b: b[1:]}
	id := r.u32()
	st.into, st.hash, st.read = nil, false, !client
	defer func() {
		if st.left == 0 {
			st.into = nil
		}
	}()
	if client {
		if s.waiting() >= MaxInFlight {
			return s.refuse("too many requests in flight")
		}
		h := r.bytes()
		off := r.u64()
		dlen := r.u32()
		st.left = dlen
		// The file is the one open under this handle now; were the client to close it and the
		// handle be reused before this packet ends, its rest still counts to the file it began
		// on (the target refuses such a write anyway).
		if f := s.files[string(h)]; f != nil {
			st.into = f
			st.save(f, false)
			if f.wOrder && off == f.nextWr {
				st.hash = true
				f.nextWr += uint64(dlen)
			} else {
				f.wOrder = false
			}
		}
		return nil
	}
	dlen := r.u32()
	st.left = dlen
	p, ok := s.take(id)
	if !ok {
		return nil
	}
	if f := s.files[p.handle]; f != nil {
		st.into = f
		st.save(f, true)
		if f.rOrder && p.offset == f.nextRead {
			st.hash = true
			f.nextRead += uint64(dlen)
		} else {
			f.rOrder = false
		}
	}
	return nil
}
