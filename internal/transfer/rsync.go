package transfer

// rsync's own file list, audited. An rsync transfer is `rsync --server [--sender] OPTS . PATH`
// on the target; the side that sends the files (the client for an upload, the target for a
// download: --sender) first sends the whole list of files it has, each with its path, size and
// mode. This follower reads that list from a COPY of the relayed bytes, on its own goroutine,
// through bounded buffers: the relay never waits for it and never fails because of it. A list
// it cannot read (an unknown protocol, options whose entries it does not parse, a stream that
// lies, a parser fallen behind) is audited as such (rsync.list, status failed, and why) and the
// transfer goes on, audited as a whole as before.
//
// What it reads (rsync protocol 30 to 32, as Debian's rsync 3.2+ speaks it; see rsync's
// compat.c setup_protocol, io.c, flist.c send_file_entry):
//
//   - both sides' protocol versions (a 4-byte little-endian int each), the server's compat
//     flags (a varint), both sides' negotiation strings (checksum, and compression with -z) when
//     the flags say they are sent, the server's checksum seed;
//   - then the sender's stream is multiplexed: 4-byte headers (tag + 7 in the high byte, the
//     length in the low three), MSG_DATA frames carry the data, other frames are messages;
//   - the filter list the client sends when the receiver wants it (--delete, -m), skipped;
//   - the file list: per entry its flags (a varint, or one or two bytes), the name as the
//     length of the prefix it shares with the previous name plus the rest, the size, the times,
//     the mode, owner and group, device numbers, a symlink's target, a hard link's first index,
//     the checksum with -c; the list ends with flags 0.
//
// Incremental recursion (rsync 3's default) would send the lists of subdirectories later, in
// the middle of the file data; RsyncServerCommand takes the 'i' out of the capabilities the
// client announces (-e.iLsfxCIvu) so that the whole list comes first, as rsync 2 sent it.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Bounds on what the rsync list follower accepts or keeps.
const (
	// rsyncMaxPath bounds a name and a symlink target (rsync's MAXPATHLEN is 4096 on Linux).
	rsyncMaxPath = 4096
	// rsyncMaxEntries bounds the entries audited one by one; the list summary still counts on.
	rsyncMaxEntries = 1_000_000
	// rsyncMaxPending bounds the bytes waiting for the parser in each direction: beyond it the
	// parser has fallen behind, gives up, and the relay goes on without copying.
	rsyncMaxPending = 8 << 20
	// rsyncMaxString bounds a negotiation string, a filter rule, a user or group name.
	rsyncMaxString = 8192
)

// rsync's file list flags (rsync.h).
const (
	xmitTopDir          = 1 << 0
	xmitSameMode        = 1 << 1
	xmitExtendedFlags   = 1 << 2
	xmitSameUID         = 1 << 3
	xmitSameGID         = 1 << 4
	xmitSameName        = 1 << 5
	xmitLongName        = 1 << 6
	xmitSameTime        = 1 << 7
	xmitSameRdevMajor   = 1 << 8
	xmitHlinked         = 1 << 9
	xmitUserNameFollows = 1 << 10
	xmitGroupNameFollow = 1 << 11
	xmitHlinkFirst      = 1 << 12
	xmitIOErrorEndlist  = 1 << 12
	xmitModNsec         = 1 << 13
	xmitSameAtime       = 1 << 14
	xmitCrtimeEqMtime   = 1 << 17

	cfIncRecurse        = 1 << 0
	cfVarintFlistFlags  = 1 << 7
	rsyncMplexBase      = 7
	rsyncMinProtocol    = 30
	rsyncMaxProtocolVer = 40
)

// RsyncOptions are what the server's command line says about the stream's shape.
type RsyncOptions struct {
	// Sender: the target sends the files (--sender: a download); else the client does.
	Sender bool
	// What each entry carries (rsync's preserve_* and always_checksum).
	Links, Owner, Group, Devices, Specials, HardLinks, Atimes, Crtimes, ACLs, Xattrs, Checksum bool
	// Compress: -z, so a compression list is negotiated unless CompressChoice names one.
	Compress bool
	// ChecksumChoice and CompressChoice: --checksum-choice / --compress-choice, "" if none.
	ChecksumChoice, CompressChoice string
	// FilterList: the client sends its filter rules before the list (--delete…, -m).
	FilterList bool
	// Info is the client's capability string (-e.LsfxCIvu).
	Info string
	// Secluded: -s (--secluded-args): the real options travel inside the stream, before the
	// protocol; this follower does not read them (the list is audited as unreadable).
	Secluded bool
}

// ParseRsyncServer reads the options of `rsync --server …` (the words after --server up to the
// first that is not an option); ok is false when command is no rsync server.
func ParseRsyncServer(command string) (RsyncOptions, bool) {
	words := strings.Fields(command)
	if len(words) < 2 || !strings.HasSuffix("/"+words[0], "/rsync") || words[1] != "--server" {
		return RsyncOptions{}, false
	}
	var o RsyncOptions
	for _, w := range words[2:] {
		if !strings.HasPrefix(w, "-") || w == "-" {
			break
		}
		if strings.HasPrefix(w, "--") {
			name, val, _ := strings.Cut(w[2:], "=")
			switch {
			case name == "sender":
				o.Sender = true
			case strings.HasPrefix(name, "delete"), name == "prune-empty-dirs":
				o.FilterList = true
			case name == "checksum-choice", name == "cc":
				o.ChecksumChoice = val
			case name == "compress-choice", name == "zc":
				o.CompressChoice, o.Compress = val, true
			case name == "compress", name == "new-compress", name == "old-compress":
				o.Compress = true
			case name == "links":
				o.Links = true
			case name == "owner":
				o.Owner = true
			case name == "group":
				o.Group = true
			case name == "devices":
				o.Devices = true
			case name == "specials":
				o.Specials = true
			case name == "hard-links":
				o.HardLinks = true
			case name == "atimes":
				o.Atimes = true
			case name == "crtimes":
				o.Crtimes = true
			case name == "acls":
				o.ACLs = true
			case name == "xattrs":
				o.Xattrs = true
			case name == "checksum":
				o.Checksum = true
			case name == "rsh":
				o.Info = val
			case name == "secluded-args", name == "protect-args":
				o.Secluded = true
			}
			continue
		}
	short:
		for i, c := range w[1:] {
			switch c {
			case 'e':
				o.Info = w[2+i:]
				break short
			case 'l':
				o.Links = true
			case 'o':
				o.Owner = true
			case 'g':
				o.Group = true
			case 'D':
				o.Devices, o.Specials = true, true
			case 'H':
				o.HardLinks = true
			case 'U':
				o.Atimes = true
			case 'N':
				o.Crtimes = true
			case 'A':
				o.ACLs = true
			case 'X':
				o.Xattrs = true
			case 'c':
				o.Checksum = true
			case 'z':
				o.Compress = true
			case 'm':
				o.FilterList = true
			case 's':
				o.Secluded = true
			}
		}
	}
	return o, true
}

// RsyncServerCommand returns command with the 'i' (incremental recursion) taken out of the
// capabilities the client announces (every word -…e.CAPS, and --rsh=.CAPS: rsync keeps the
// last), so that the whole file list is sent before any file and can be audited; any other
// command is returned as it is. Only words made of letters and the one '.' are touched.
func RsyncServerCommand(command string) string {
	if _, ok := ParseRsyncServer(command); !ok {
		return command
	}
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	words := strings.Split(command, " ")
	for i, w := range words {
		switch {
		case strings.HasPrefix(w, "--rsh=."):
			if strings.Trim(w[len("--rsh=."):], letters) == "" {
				words[i] = "--rsh=." + strings.ReplaceAll(w[len("--rsh=."):], "i", "")
			}
		case strings.HasPrefix(w, "-") && !strings.HasPrefix(w, "--"):
			e := strings.Index(w, "e.")
			if e < 0 || strings.Trim(w[1:e]+w[e+2:], letters) != "" {
				continue
			}
			words[i] = w[:e+2] + strings.ReplaceAll(w[e+2:], "i", "")
		}
	}
	return strings.Join(words, " ")
}

// RsyncFile is one entry of rsync's file list.
type RsyncFile struct {
	Path string
	Size int64
	Mode uint32
}

// Type names the entry's kind from its mode.
func (f RsyncFile) Type() string {
	switch f.Mode & 0o170000 {
	case 0o100000:
		return "file"
	case 0o040000:
		return "dir"
	case 0o120000:
		return "symlink"
	case 0o020000, 0o060000:
		return "device"
	case 0o010000, 0o140000:
		return "special"
	}
	return "unknown"
}

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

// feed is a bounded copy of one direction of the relay for the parser: Write never blocks,
// and drops everything once the parser is done or has fallen rsyncMaxPending bytes behind.
type feed struct {
	mu       sync.Mutex
	cond     *sync.Cond
	buf      []byte
	closed   bool
	overflow bool
	stopped  atomic.Bool
}

func newFeed() *feed {
	f := &feed{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *feed) write(p []byte) {
	if f.stopped.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if len(f.buf)+len(p) > rsyncMaxPending {
		f.overflow, f.closed = true, true
		f.buf = nil
		f.stopped.Store(true)
		f.cond.Broadcast()
		return
	}
	f.buf = append(f.buf, p...)
	f.cond.Signal()
}

func (f *feed) close() {
	f.mu.Lock()
	f.closed = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// stop: the parser needs no more; the buffer is let go.
func (f *feed) stop() {
	f.stopped.Store(true)
	f.mu.Lock()
	f.closed, f.buf = true, nil
	f.cond.Broadcast()
	f.mu.Unlock()
}

var errFellBehind = errors.New("the audit fell behind the transfer")

func (f *feed) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.buf) == 0 && !f.closed {
		f.cond.Wait()
	}
	if f.overflow {
		return 0, errFellBehind
	}
	if len(f.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	if len(f.buf) == 0 {
		f.buf = nil // let the backing array go between bursts
	}
	return n, nil
}

// Rsync follows one rsync transfer's file list (a Follower that never refuses: the relay
// goes on whatever the list holds). Events: rsync.file for each entry (path, size in
// "size", mode, type), then rsync.list (files, total size, status ok or failed and why).
type Rsync struct {
	client, server *feed
	done           chan struct{}
}

// NewRsync starts following the transfer of command (`rsync --server …`); emit hears the
// events from the parser's own goroutine.
func NewRsync(command string, emit func(Event)) *Rsync {
	o, _ := ParseRsyncServer(command)
	r := &Rsync{client: newFeed(), server: newFeed(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var total int64
		n, err := ReadRsyncList(o, r.client, r.server, func(f RsyncFile) {
			total += max(f.Size, 0)
			emit(Event{Op: "file", Path: f.Path, Status: "listed", Size: strconv.FormatInt(f.Size, 10),
				Mode: strconv.FormatUint(uint64(f.Mode&0o7777), 8), Kind: f.Type(), Direction: direction(o.Sender)})
		})
		r.client.stop()
		r.server.stop()
		ev := Event{Op: "list", Status: "ok", Files: strconv.Itoa(n), Size: strconv.FormatInt(total, 10), Direction: direction(o.Sender)}
		if n > rsyncMaxEntries {
			ev.Comment = fmt.Sprintf("only the first %d entries are audited one by one", rsyncMaxEntries)
		}
		if err != nil {
			ev.Status, ev.Comment = "failed", "rsync's file list could not be read: "+err.Error()
		}
		emit(ev)
	}()
	return r
}

func direction(sender bool) string {
	if sender {
		return "download"
	}
	return "upload"
}

// ClientBytes copies what the client sends for the parser; it never fails.
func (r *Rsync) ClientBytes(p []byte) error { r.client.write(p); return nil }

// ServerBytes copies what the target sends for the parser; it never fails.
func (r *Rsync) ServerBytes(p []byte) error { r.server.write(p); return nil }

// Close ends the streams and waits for the parser's last event.
func (r *Rsync) Close() {
	r.client.close()
	r.server.close()
	<-r.done
}
