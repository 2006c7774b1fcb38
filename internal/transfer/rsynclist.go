package transfer

// The reading of rsync's stream for its file list (the follower's parser; rsync.go says what it
// reads and why, and runs it off the relay's path).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// errRsyncEnd is the end of the list.
var errRsyncEnd = errors.New("end of the file list")

// rsyncReader reads rsync's integers from a stream.
type rsyncReader struct {
	r   io.Reader
	buf [16]byte
}

func (r *rsyncReader) full(p []byte) error {
	if _, err := io.ReadFull(r.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("the stream ended inside the file list")
		}
		return err
	}
	return nil
}

func (r *rsyncReader) byte() (byte, error) {
	if err := r.full(r.buf[:1]); err != nil {
		return 0, err
	}
	return r.buf[0], nil
}

func (r *rsyncReader) int32() (int32, error) {
	if err := r.full(r.buf[:4]); err != nil {
		return 0, err
	}
	return int32(binary.LittleEndian.Uint32(r.buf[:4])), nil
}

// intByteExtra is io.c's int_byte_extra: how many bytes follow a varint's first byte.
func intByteExtra(b byte) int {
	switch {
	case b < 0x80:
		return 0
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	case b < 0xF8:
		return 4
	case b < 0xFC:
		return 5
	}
	return 6
}

func (r *rsyncReader) varint() (int32, error) {
	ch, err := r.byte()
	if err != nil {
		return 0, err
	}
	extra := intByteExtra(ch)
	if extra == 0 {
		return int32(ch), nil
	}
	if extra >= 5 {
		return 0, errors.New("varint overflow")
	}
	var b [5]byte
	if err := r.full(b[:extra]); err != nil {
		return 0, err
	}
	b[extra] = ch & (1<<(8-extra) - 1)
	return int32(binary.LittleEndian.Uint32(b[:4])), nil
}

func (r *rsyncReader) varlong(minBytes int) (int64, error) {
	var b2 [8]byte
	if err := r.full(b2[:minBytes]); err != nil {
		return 0, err
	}
	var u [9]byte
	copy(u[:], b2[1:minBytes])
	extra := intByteExtra(b2[0])
	if minBytes+extra > 9 || (extra > 0 && minBytes+extra > 8) {
		return 0, errors.New("varlong overflow")
	}
	if extra > 0 {
		if err := r.full(u[minBytes-1 : minBytes-1+extra]); err != nil {
			return 0, err
		}
		u[minBytes+extra-1] = b2[0] & (1<<(8-extra) - 1)
	} else {
		u[minBytes-1] = b2[0]
	}
	return int64(binary.LittleEndian.Uint64(u[:8])), nil
}

func (r *rsyncReader) bytes(n int) ([]byte, error) {
	p := make([]byte, n)
	return p, r.full(p)
}

func (r *rsyncReader) skip(n int64) error {
	_, err := io.CopyN(io.Discard, r.r, n)
	if err != nil {
		return errors.New("the stream ended inside a message")
	}
	return nil
}

// vstring reads a negotiation string (one length byte, two when its high bit is set).
func (r *rsyncReader) vstring() (string, error) {
	n, err := r.byte()
	if err != nil {
		return "", err
	}
	l := int(n)
	if n&0x80 != 0 {
		lo, err := r.byte()
		if err != nil {
			return "", err
		}
		l = int(n&0x7f)<<8 | int(lo)
	}
	if l > rsyncMaxString {
		return "", fmt.Errorf("negotiation string of %d bytes", l)
	}
	p, err := r.bytes(l)
	return string(p), err
}

// demux is the data of a multiplexed stream: MSG_DATA frames' bytes; messages are skipped.
type demux struct {
	r    *rsyncReader
	left int // bytes left in the current data frame
}

func (d *demux) Read(p []byte) (int, error) {
	for d.left == 0 {
		h, err := d.r.int32()
		if err != nil {
			return 0, err
		}
		tag, n := int(uint32(h)>>24)-rsyncMplexBase, int(uint32(h)&0xFFFFFF)
		if tag < 0 {
			return 0, fmt.Errorf("not a multiplexed frame (header %#x)", uint32(h))
		}
		if tag == 0 {
			d.left = n
			continue
		}
		if err := d.r.skip(int64(n)); err != nil {
			return 0, err
		}
	}
	if len(p) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.r.Read(p)
	d.left -= n
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// checksumLen is the length of a file checksum in the list with -c, by checksum name.
func checksumLen(name string) (int, bool) {
	switch name {
	case "xxh128", "md5", "md4":
		return 16, true
	case "xxh3", "xxh64", "xxhash":
		return 8, true
	case "sha1":
		return 20, true
	case "sha256":
		return 32, true
	case "sha512":
		return 64, true
	case "none":
		return 1, true
	}
	return 0, false
}

// negotiated is the name both lists share, in the order of mine.
func negotiated(mine, theirs string) string {
	peer := strings.Fields(theirs)
	for _, n := range strings.Fields(mine) {
		for _, p := range peer {
			if n == p {
				return n
			}
		}
	}
	return ""
}

// ReadRsyncList reads the start of an rsync transfer (the client's and the server's streams)
// up to the end of the sender's file list, calling each for every entry; it returns the
// number of entries read, and why it stopped when it did not reach the end of the list.
func ReadRsyncList(o RsyncOptions, client, server io.Reader, each func(RsyncFile)) (int, error) {
	if o.ACLs || o.Xattrs {
		return 0, errors.New("lists with ACLs or extended attributes (-A, -X) are not parsed")
	}
	if o.Secluded {
		return 0, errors.New("--secluded-args (-s) sends the options inside the stream: not parsed")
	}
	// Buffered: the entries are read a few bytes at a time, the feeds lock per read.
	c, s := &rsyncReader{r: bufio.NewReaderSize(client, 32<<10)}, &rsyncReader{r: bufio.NewReaderSize(server, 32<<10)}
	sv, err := s.int32()
	if err != nil {
		return 0, err
	}
	cv, err := c.int32()
	if err != nil {
		return 0, err
	}
	proto := min(sv, cv)
	if proto < rsyncMinProtocol || sv > rsyncMaxProtocolVer || cv > rsyncMaxProtocolVer {
		return 0, fmt.Errorf("protocol %d (client %d, server %d): only 30 and newer are parsed", proto, cv, sv)
	}
	compat, err := s.varint()
	if err != nil {
		return 0, err
	}
	if compat&cfIncRecurse != 0 {
		return 0, errors.New("incremental recursion is on: the lists of subdirectories come later")
	}
	varintFlags := compat&cfVarintFlistFlags != 0
	var lists [2][2]string // [client, server][checksum, compress]
	if varintFlags {
		for i, r := range []*rsyncReader{c, s} {
			if o.ChecksumChoice == "" {
				if lists[i][0], err = r.vstring(); err != nil {
					return 0, err
				}
			}
			if o.Compress && o.CompressChoice == "" {
				if lists[i][1], err = r.vstring(); err != nil {
					return 0, err
				}
			}
		}
	}
	if _, err := s.int32(); err != nil { // the checksum seed
		return 0, err
	}
	sender := c
	if o.Sender {
		sender = s
	}
	r := &rsyncReader{r: bufio.NewReaderSize(&demux{r: sender}, 32<<10)}
	if !o.Sender && o.FilterList {
		for {
			n, err := r.int32()
			if err != nil {
				return 0, err
			}
			if n == 0 {
				break
			}
			if n < 0 || n > rsyncMaxString {
				return 0, fmt.Errorf("filter rule of %d bytes", n)
			}
			if err := r.skip(int64(n)); err != nil {
				return 0, err
			}
		}
	}
	sumLen := 0
	if o.Checksum {
		name := o.ChecksumChoice
		if i := strings.IndexByte(name, ','); i >= 0 {
			name = name[i+1:]
		}
		switch {
		case name != "":
		case !varintFlags:
			name = "md5" // protocol 30+ without negotiation
		case o.Sender:
			name = negotiated(lists[1][0], lists[0][0])
		default:
			name = negotiated(lists[0][0], lists[1][0])
		}
		var ok bool
		if sumLen, ok = checksumLen(name); !ok {
			return 0, fmt.Errorf("unknown checksum %q for -c", name)
		}
	}
	l := &listReader{o: o, r: r, proto: int(proto), varintFlags: varintFlags, sumLen: sumLen}
	n := 0
	for {
		f, err := l.next()
		if errors.Is(err, errRsyncEnd) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if n <= rsyncMaxEntries {
			each(f)
		}
	}
}

// listReader reads file list entries, each relative to the one before (rsync's statics).
type listReader struct {
	o           RsyncOptions
	r           *rsyncReader
	proto       int
	varintFlags bool
	sumLen      int
	last        string
	mode        uint32
	hlinks      []RsyncFile // with -H: the entries a later hard link may name
}

func (l *listReader) next() (RsyncFile, error) {
	r := l.r
	var flags int
	if l.varintFlags {
		v, err := r.varint()
		if err != nil {
			return RsyncFile{}, err
		}
		flags = int(v)
		if flags == 0 {
			_, err := r.varint() // the sender's io_error
			if err != nil {
				return RsyncFile{}, err
			}
			return RsyncFile{}, errRsyncEnd
		}
	} else {
		b, err := r.byte()
		if err != nil {
			return RsyncFile{}, err
		}
		flags = int(b)
		if flags == 0 {
			return RsyncFile{}, errRsyncEnd
		}
		if flags&xmitExtendedFlags != 0 {
			b, err := r.byte()
			if err != nil {
				return RsyncFile{}, err
			}
			flags |= int(b) << 8
			if flags == xmitExtendedFlags|xmitIOErrorEndlist {
				if _, err := r.varint(); err != nil {
					return RsyncFile{}, err
				}
				return RsyncFile{}, errRsyncEnd
			}
		}
	}
	if flags < 0 {
		return RsyncFile{}, fmt.Errorf("bad entry flags %#x", flags)
	}
	l1 := 0
	if flags&xmitSameName != 0 {
		b, err := r.byte()
		if err != nil {
			return RsyncFile{}, err
		}
		l1 = int(b)
	}
	var l2 int
	if flags&xmitLongName != 0 {
		v, err := r.varint()
		if err != nil {
			return RsyncFile{}, err
		}
		l2 = int(v)
	} else {
		b, err := r.byte()
		if err != nil {
			return RsyncFile{}, err
		}
		l2 = int(b)
	}
	if l1 > len(l.last) || l2 < 0 || l1+l2 > rsyncMaxPath {
		return RsyncFile{}, fmt.Errorf("bad name lengths %d+%d after %d bytes", l1, l2, len(l.last))
	}
	rest, err := r.bytes(l2)
	if err != nil {
		return RsyncFile{}, err
	}
	name := l.last[:l1] + string(rest)
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return RsyncFile{}, fmt.Errorf("bad name %q", name)
	}
	l.last = name
	f := RsyncFile{Path: name}
	if l.o.HardLinks && flags&xmitHlinked != 0 && flags&xmitHlinkFirst == 0 {
		ndx, err := r.varint()
		if err != nil {
			return RsyncFile{}, err
		}
		if ndx < 0 || int(ndx) >= len(l.hlinks) {
			return RsyncFile{}, fmt.Errorf("hard link to entry %d of %d", ndx, len(l.hlinks))
		}
		first := l.hlinks[ndx]
		f.Size, f.Mode = first.Size, first.Mode
		l.mode = first.Mode
		l.keep(f)
		return f, nil
	}
	if f.Size, err = r.varlong(3); err != nil {
		return RsyncFile{}, err
	}
	if f.Size < 0 {
		return RsyncFile{}, fmt.Errorf("negative size %d", f.Size)
	}
	if flags&xmitSameTime == 0 {
		if _, err := r.varlong(4); err != nil {
			return RsyncFile{}, err
		}
	}
	if flags&xmitModNsec != 0 {
		if _, err := r.varint(); err != nil {
			return RsyncFile{}, err
		}
	}
	if l.o.Crtimes && flags&xmitCrtimeEqMtime == 0 {
		if _, err := r.varlong(4); err != nil {
			return RsyncFile{}, err
		}
	}
	if flags&xmitSameMode == 0 {
		m, err := r.int32()
		if err != nil {
			return RsyncFile{}, err
		}
		l.mode = uint32(m)
	}
	f.Mode = l.mode
	isDir := f.Mode&0o170000 == 0o040000
	if l.o.Atimes && !isDir && flags&xmitSameAtime == 0 {
		if _, err := r.varlong(4); err != nil {
			return RsyncFile{}, err
		}
	}
	for _, id := range []struct {
		on      bool
		same    int
		follows int
	}{{l.o.Owner, xmitSameUID, xmitUserNameFollows}, {l.o.Group, xmitSameGID, xmitGroupNameFollow}} {
		if !id.on || flags&id.same != 0 {
			continue
		}
		if _, err := r.varint(); err != nil {
			return RsyncFile{}, err
		}
		if flags&id.follows != 0 {
			n, err := r.byte()
			if err != nil {
				return RsyncFile{}, err
			}
			if _, err := r.bytes(int(n)); err != nil {
				return RsyncFile{}, err
			}
		}
	}
	typ := f.Type()
	if (l.o.Devices && typ == "device") || (l.o.Specials && typ == "special" && l.proto < 31) {
		if flags&xmitSameRdevMajor == 0 {
			if _, err := r.varint(); err != nil {
				return RsyncFile{}, err
			}
		}
		if _, err := r.varint(); err != nil {
			return RsyncFile{}, err
		}
	}
	if l.o.Links && typ == "symlink" {
		n, err := r.varint()
		if err != nil {
			return RsyncFile{}, err
		}
		if n < 0 || n > rsyncMaxPath {
			return RsyncFile{}, fmt.Errorf("symlink target of %d bytes", n)
		}
		if _, err := r.bytes(int(n)); err != nil {
			return RsyncFile{}, err
		}
	}
	if l.sumLen > 0 && typ == "file" {
		if _, err := r.bytes(l.sumLen); err != nil {
			return RsyncFile{}, err
		}
	}
	l.keep(f)
	return f, nil
}

// keep remembers an entry a later hard link may name (-H only; bounded like the audit).
func (l *listReader) keep(f RsyncFile) {
	if l.o.HardLinks && len(l.hlinks) < rsyncMaxEntries {
		l.hlinks = append(l.hlinks, f)
	}
}
