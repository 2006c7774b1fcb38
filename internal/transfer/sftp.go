// Package transfer keeps what the bastion learns of file transfers: the SFTP stream between a
// client and a target is parsed as it is relayed (never changed), and every operation that reads
// or changes the target's files becomes an audit event with its paths, byte counts and the
// SHA-256 of what was read or written.
//
// The parser sees both directions of one SFTP session (version 3, draft-ietf-secsh-filexfer-02,
// what OpenSSH speaks). It keeps the requests in flight by id, and the open files by handle, both
// bounded. What it cannot audit faithfully ends the session (fail closed): a packet longer than
// OpenSSH's own limit, a path with a NUL byte (the target would cut it where the audit would
// not) or longer than MaxPath, too many requests or files at once.
package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"gatehouse/internal/audit"
)

// Limits of what is parsed.
const (
	// MaxPacket is OpenSSH's sftp-server limit (SFTP_MAX_MSG_LENGTH) plus room for headers.
	MaxPacket = 256*1024 + 1024
	// MaxPath is the longest path audited; a longer one ends the session.
	MaxPath = 4096
	// MaxInFlight bounds the requests waiting for their reply, MaxOpen the open handles.
	MaxInFlight = 4096
	MaxOpen     = 1024
)

// SFTP packet types (draft-ietf-secsh-filexfer-02).
const (
	fxpInit     = 1
	fxpOpen     = 3
	fxpClose    = 4
	fxpRead     = 5
	fxpWrite    = 6
	fxpSetstat  = 9
	fxpFsetstat = 10
	fxpOpendir  = 11
	fxpRemove   = 13
	fxpMkdir    = 14
	fxpRmdir    = 15
	fxpRename   = 18
	fxpSymlink  = 20
	fxpExtended = 200
	fxpStatus   = 101
	fxpHandle   = 102
	fxpData     = 103
)

// Open flags (SSH_FXF_*).
const (
	fxfRead   = 0x01
	fxfWrite  = 0x02
	fxfAppend = 0x04
	fxfCreat  = 0x08
	fxfTrunc  = 0x10
)

// ErrRefused is returned for a stream the audit cannot follow; the session must end.
var ErrRefused = errors.New("sftp stream refused")

// Event is one audited operation. Op is "open" (with Flags), "close" (a file's totals:
// BytesRead, BytesWritten and their SHA-256 when the file was read or written in order), "remove",
// "mkdir", "rmdir", "rename" (Path to Path2), "symlink", "setstat", or "refused" (Comment says
// why). Status is the target's answer ("ok", "failed", "" when none came).
type Event struct {
	Op           string
	Path, Path2  string
	Flags        string
	BytesRead    int64
	BytesWritten int64
	SHA256Read   string
	SHA256Write  string
	Status       string
	Comment      string
	// An rsync list entry's (and a list's) fields, as text; empty ones are left out: its size
	// as listed, its permission bits (octal), its type, and the list's number of entries and
	// direction (upload, download).
	Size, Mode, Kind, Files, Direction string
}

// Fields is the event as audit log fields: its comment, and the rest in Extra.
func (e Event) Fields() audit.Fields {
	x := map[string]string{"op": e.Op, "path": e.Path}
	set := func(k, v string) {
		if v != "" {
			x[k] = v
		}
	}
	set("path2", e.Path2)
	set("flags", e.Flags)
	set("status", e.Status)
	set("sha256_read", e.SHA256Read)
	set("sha256_written", e.SHA256Write)
	set("size", e.Size)
	set("mode", e.Mode)
	set("type", e.Kind)
	set("files", e.Files)
	set("direction", e.Direction)
	if (e.Op == "close" || e.Op == "file") && e.Size == "" {
		x["bytes_read"], x["bytes_written"] = strconv.FormatInt(e.BytesRead, 10), strconv.FormatInt(e.BytesWritten, 10)
	}
	return audit.Fields{Comment: e.Comment, Extra: x}
}

// file is an open handle's state.
type file struct {
	handle           string // its key in SFTP.files
	path             string
	dir              bool
	read, written    int64
	rhash, whash     hash.Hash
	rOrder, wOrder   bool // every read / write so far was at the next offset: the hash is of the file
	nextRead, nextWr uint64
}

// readReq is a read waiting for its data: which file, at which offset.
type readReq struct {
	handle string
	offset uint64
}

// waiting is the number of requests in flight.
func (s *SFTP) waiting() int { return len(s.inflight) + len(s.reads) + len(s.others) }

// put and putRead keep a request until its reply; a new request under a waiting one's id
// replaces it, whatever its kind.
func (s *SFTP) put(id uint32, p pending) {
	delete(s.reads, id)
	s.inflight[id] = p
}

func (s *SFTP) putRead(id uint32, r readReq) {
	delete(s.inflight, id)
	s.reads[id] = r
}

// pendingID says whether a request with id waits for its reply.
func (s *SFTP) pendingID(id uint32) bool {
	if _, ok := s.reads[id]; ok {
		return true
	}
	if _, ok := s.others[id]; ok {
		return true
	}
	_, ok := s.inflight[id]
	return ok
}

// take removes the request a reply answers.
func (s *SFTP) take(id uint32) (pending, bool) {
	if r, ok := s.reads[id]; ok {
		delete(s.reads, id)
		return pending{handle: r.handle, offset: r.offset}, true
	}
	p, ok := s.inflight[id]
	if ok {
		delete(s.inflight, id)
	} else {
		delete(s.others, id)
	}
	return p, ok
}

// pending is a request waiting for its reply.
type pending struct {
	ev     Event  // emitted when the status comes (ops), or the open's path
	handle string // reads: which file
	offset uint64
	open   bool
	dir    bool
}

// SFTP follows one SFTP session. Emit hears each event; it is called on the goroutine that feeds
// the bytes.
type SFTP struct {
	Emit func(Event)

	client, server stream
	inflight       map[uint32]pending // requests audited on their reply
	// reads are the read requests in flight, apart: a pending is too big for a map to hold
	// in place (one allocation per insert), and reads are the bulk of a download.
	reads map[uint32]readReq
	// others are the requests not audited one by one (stat, readdir, realpath …) still waiting:
	// their ids count as taken, so that a request reusing one is refused (the target's reply to
	// the first, an ATTRS or a NAME, would otherwise take the second's place and drop its event).
	others map[uint32]struct{}
	files  map[string]*file
	failed error
	// gatherAll (tests) parses every packet whole, as the parser did before it streamed data:
	// the reference the streaming path is checked against.
	gatherAll bool
}

// stream is one direction's parse state. A packet that arrives whole in one feed is parsed where
// it lies; one that spans feeds is gathered in buf, except the data of a write (client) or of a
// read's reply (server): once their few header bytes are in, the data is hashed as it passes,
// never copied, so a bulk transfer costs the hash and nothing per byte else.
type stream struct {
	buf  []byte // the packet (length prefix included) gathered so far; reused
	left uint32 // >0: bytes of a streamed packet's data still to come
	into *file  // where they are counted (nil: nowhere)
	hash bool   // and hashed (the file's writes or reads were in order so far)
	read bool   // into's read side (server) rather than its write side (client)
	// What a streamed packet changed of its file before it ends, undone should the session end
	// before it does: parsing the packet whole would not have counted it at all.
	passed    int64
	order     bool
	next      uint64
	hashState []byte // the digest's state before the packet (reused)
}

// keepBuf is the largest gathering buffer kept between packets: a session that once sent a big
// non-data packet does not hold MaxPacket bytes for the rest of its life.
const keepBuf = 64 << 10

// NewSFTP returns a parser that tells emit.
func NewSFTP(emit func(Event)) *SFTP {
	return &SFTP{Emit: emit, inflight: map[uint32]pending{}, reads: map[uint32]readReq{}, others: map[uint32]struct{}{}, files: map[string]*file{}}
}

// ClientBytes feeds bytes the client sent to the target.
func (s *SFTP) ClientBytes(p []byte) error { return s.feed(&s.client, p, true) }

// ServerBytes feeds bytes the target sent to the client.
func (s *SFTP) ServerBytes(p []byte) error { return s.feed(&s.server, p, false) }

// Close emits the totals of the files still open (the session ended without closing them):
// status failed; the hashes are of the whole packets that went (TestSFTPCutMidPacket), which
// need not be the file.
func (s *SFTP) Close() {
	s.client.undo()
	s.server.undo()
	for h, f := range s.files {
		s.closeFile(h, f, "failed", "session ended with the file open")
	}
}

func (s *SFTP) handle(pkt []byte, client bool) error {
	if client {
		return s.clientPacket(pkt)
	}
	return s.serverPacket(pkt)
}

func (s *SFTP) refuse(why string) error {
	s.failed = fmt.Errorf("%w: %s", ErrRefused, why)
	s.Emit(Event{Op: "refused", Comment: why})
	return s.failed
}

// reader decodes SFTP fields; a short packet sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// CheckPath is the rule for a path the audit names: no NUL (the target would cut the path there
// and act on another file than the one audited), not longer than MaxPath. `..` is allowed: the
// target resolves it with its user's rights, and the audit shows it as sent.
func CheckPath(p []byte) error {
	switch {
	case len(p) > MaxPath:
		return fmt.Errorf("a path of %d bytes (at most %d)", len(p), MaxPath)
	case strings.IndexByte(string(p), 0) >= 0:
		return errors.New("a path with a NUL byte")
	}
	return nil
}

func (s *SFTP) path(r *reader) (string, error) {
	p := r.bytes()
	if r.bad {
		return "", s.refuse("a malformed request")
	}
	if err := CheckPath(p); err != nil {
		return "", s.refuse(err.Error())
	}
	return string(p), nil
}

func (s *SFTP) clientPacket(pkt []byte) error {
	typ := pkt[0]
	r := &reader{b: pkt[1:]}
	if typ == fxpInit {
		return nil
	}
	id := r.u32()
	if r.bad {
		return s.refuse("a malformed request")
	}
	if s.waiting() >= MaxInFlight {
		return s.refuse("too many requests in flight")
	}
	if s.pendingID(id) {
		// A reply is matched to its request by id: a second request with the id of one still
		// waiting would have the first's reply (a handle) audited under the second's path.
		return s.refuse(fmt.Sprintf("request id %d is already waiting for its reply", id))
	}
	var p pending
	switch typ {
	case fxpOpen, fxpOpendir:
		path, err := s.path(r)
		if err != nil {
			return err
		}
		p = pending{open: true, dir: typ == fxpOpendir, ev: Event{Op: "open", Path: path}}
		if typ == fxpOpen {
			p.ev.Flags = openFlags(r.u32())
		}
	case fxpRead:
		hb := r.bytes()
		off := r.u64()
		if r.bad {
			return s.refuse("a malformed read")
		}
		f := s.files[string(hb)]
		if f == nil {
			// As for a write: a handle the target did not give was guessed.
			return s.refuse("a read on a handle the target did not give")
		}
		h := f.handle // the open file's own key: no string made per read
		s.putRead(id, readReq{handle: h, offset: off})
		return nil
	case fxpWrite:
		h := r.bytes()
		off := r.u64()
		data := r.bytes()
		if r.bad {
			return s.refuse("a malformed write")
		}
		// A client learns a handle from the target's reply, which the audit reads first: a
		// handle it does not know yet was guessed (the bytes would go unaudited).
		f := s.files[string(h)]
		if f == nil {
			return s.refuse("a write on a handle the target did not give")
		}
		f.written += int64(len(data))
		if f.wOrder && off == f.nextWr {
			f.whash.Write(data)
			f.nextWr += uint64(len(data))
		} else {
			f.wOrder = false
		}
		return nil // its status is not audited: the close carries the totals
	case fxpClose:
		h := string(r.bytes())
		if r.bad {
			return s.refuse("a malformed close")
		}
		p = pending{handle: h, ev: Event{Op: "close"}}
	case fxpRemove, fxpMkdir, fxpRmdir, fxpSetstat:
		path, err := s.path(r)
		if err != nil {
			return err
		}
		p.ev = Event{Op: map[byte]string{fxpRemove: "remove", fxpMkdir: "mkdir", fxpRmdir: "rmdir", fxpSetstat: "setstat"}[typ], Path: path}
	case fxpFsetstat:
		h := r.bytes()
		if r.bad {
			return s.refuse("a malformed fsetstat")
		}
		path := ""
		if f := s.files[string(h)]; f != nil {
			path = f.path
		}
		p.ev = Event{Op: "setstat", Path: path}
	case fxpRename, fxpSymlink:
		a, err := s.path(r)
		if err != nil {
			return err
		}
		b, err := s.path(r)
		if err != nil {
			return err
		}
		op := "rename"
		if typ == fxpSymlink {
			op = "symlink"
		}
		p.ev = Event{Op: op, Path: a, Path2: b}
	case fxpExtended:
		name := r.bytes()
		if r.bad {
			return s.refuse("a malformed extended request")
		}
		switch string(name) {
		case "posix-rename@openssh.com", "hardlink@openssh.com":
			a, err := s.path(r)
			if err != nil {
				return err
			}
			b, err := s.path(r)
			if err != nil {
				return err
			}
			op := "rename"
			if strings.HasPrefix(string(name), "hardlink") {
				op = "hardlink"
			}
			p.ev = Event{Op: op, Path: a, Path2: b}
		default:
			// statvfs, fsync, limits, expand-path, copy-data …: read-only or carried by
			// the files' totals; copy-data is audited by name.
			if len(name) > 64 {
				return s.refuse("an extended request with a long name")
			}
			if string(name) == "copy-data" {
				p.ev = Event{Op: "copy-data"}
			}
		}
	default:
		s.others[id] = struct{}{} // reads of metadata (stat, readdir, realpath …): not audited one by one
		return nil
	}
	s.put(id, p)
	return nil
}

func openFlags(f uint32) string {
	var out []string
	for _, x := range []struct {
		bit  uint32
		name string
	}{{fxfRead, "read"}, {fxfWrite, "write"}, {fxfAppend, "append"}, {fxfCreat, "create"}, {fxfTrunc, "truncate"}} {
		if f&x.bit != 0 {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ",")
}

func (s *SFTP) serverPacket(pkt []byte) error {
	typ := pkt[0]
	r := &reader{b: pkt[1:]}
	if typ != fxpStatus && typ != fxpHandle && typ != fxpData {
		if typ >= fxpStatus {
			id := r.u32()
			if r.bad {
				return nil
			}
			if p, ok := s.take(id); ok && (p.open || p.ev.Op != "" || p.handle != "") {
				// An ATTRS or NAME for an audited request (a target that answers out of turn):
				// its event goes out with what is known, and the session ends.
				if p.ev.Op != "" && !p.dir {
					p.ev.Status = "unknown"
					s.Emit(p.ev)
				}
				return s.refuse("a reply that does not fit its request")
			}
		}
		return nil
	}
	id := r.u32()
	if r.bad {
		return s.refuse("a malformed reply")
	}
	p, ok := s.take(id)
	if !ok {
		return nil
	}
	switch typ {
	case fxpHandle:
		h := r.bytes()
		if r.bad || !p.open {
			return nil
		}
		if len(s.files) >= MaxOpen {
			return s.refuse("too many open files")
		}
		hs := string(h)
		s.files[hs] = &file{handle: hs, path: p.ev.Path, dir: p.dir, rhash: sha256.New(), whash: sha256.New(), rOrder: true, wOrder: true}
		if !p.dir {
			p.ev.Status = "ok"
			s.Emit(p.ev)
		}
	case fxpData:
		data := r.bytes()
		if r.bad {
			return nil
		}
		if f := s.files[p.handle]; f != nil {
			f.read += int64(len(data))
			if f.rOrder && p.offset == f.nextRead {
				f.rhash.Write(data)
				f.nextRead += uint64(len(data))
			} else {
				f.rOrder = false
			}
		}
	case fxpStatus:
		code := r.u32()
		status := "failed"
		if !r.bad && code == 0 {
			status = "ok"
		}
		switch {
		case p.ev.Op == "close":
			if f := s.files[p.handle]; f != nil {
				s.closeFile(p.handle, f, status, "")
			}
		case p.open:
			if !p.dir {
				p.ev.Status = status
				s.Emit(p.ev)
			}
		case p.ev.Op != "":
			p.ev.Status = status
			s.Emit(p.ev)
		}
	}
	return nil
}

func (s *SFTP) closeFile(h string, f *file, status, comment string) {
	delete(s.files, h)
	if f.dir {
		return
	}
	ev := Event{Op: "close", Path: f.path, BytesRead: f.read, BytesWritten: f.written, Status: status, Comment: comment}
	if f.read > 0 && f.rOrder {
		ev.SHA256Read = hex.EncodeToString(f.rhash.Sum(nil))
	}
	if f.written > 0 && f.wOrder {
		ev.SHA256Write = hex.EncodeToString(f.whash.Sum(nil))
	}
	s.Emit(ev)
}
