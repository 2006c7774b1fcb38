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
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"gatehouse/internal/crash"
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
		var n int
		var err error
		// The parser reads what a client or a target sends, on a goroutine of its own: a panic
		// there would end the process, so it ends only this list (audited as unreadable).
		if p := crash.Catch(func() {
			n, err = ReadRsyncList(o, r.client, r.server, func(f RsyncFile) {
				total += max(f.Size, 0)
				emit(Event{Op: "file", Path: f.Path, Status: "listed", Size: strconv.FormatInt(f.Size, 10),
					Mode: strconv.FormatUint(uint64(f.Mode&0o7777), 8), Kind: f.Type(), Direction: direction(o.Sender)})
			})
		}); p != nil {
			err = fmt.Errorf("the list reader failed: %v", p.Value)
		}
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
