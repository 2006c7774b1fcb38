package transfer

// The legacy scp protocol (scp -O; `scp -t` receives, `scp -f` sends), followed as it is relayed
// so that each file copied is an audit event, as SFTP operations are. Only the sender's stream is
// parsed (the client's for an upload, the target's for a download); the receiver's one-byte
// acknowledgements carry nothing to audit. The sender writes control lines:
//
//	C<mode> <size> <name>\n   a file, then <size> bytes of data, then one status byte (0)
//	D<mode> 0 <name>\n        enter a directory (-r)
//	E\n                       leave it
//	T<mtime> 0 <atime> 0\n    the next file's times (-p)
//	\x01<message>\n, \x02<message>\n   a warning or an error (the target says why it cannot send)
//
// Events: "file" (path: the directories entered and the name, path2: the command's own path
// argument; bytes_read for a download, bytes_written for an upload, with the SHA-256 of the
// data), "dir". A stream the audit cannot follow ends the session before the bytes go on
// (fail closed): a control line longer than MaxSCPLine, a name holding '/', NUL or being "..",
// an unknown control byte, a size that is not a decimal number. A stream that ends inside a
// file is audited with comment "transfer ended before the file's end".

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"path"
	"strconv"
	"strings"
)

// MaxSCPLine bounds one control line: a mode, a size and a name of at most 4096 bytes (PATH_MAX,
// as the SFTP audit's bound on a path) fit well under it.
const MaxSCPLine = 4096 + 64

// maxSCPDepth bounds the directories entered (D lines without their E).
const maxSCPDepth = 256

// SCP follows one direction of a legacy scp session.
type SCP struct {
	audit    func(Event)
	upload   bool   // the client sends (scp -t): bytes_written; else bytes_read
	arg      string // the path on the command line
	line     []byte
	dirs     []string
	cur      *scpFile
	status   bool // the status byte after a file's data is due
	failed   error
	sawBytes bool
}

type scpFile struct {
	path string
	size int64
	n    int64
	h    hash.Hash
}

// NewSCP follows the sender's stream of `scp -t ARG` (upload true) or `scp -f ARG`.
func NewSCP(upload bool, arg string, audit func(Event)) *SCP {
	return &SCP{audit: audit, upload: upload, arg: arg}
}

// SCPArg is the path argument of scp's server-side command line (its first word after the
// options), for path2.
func SCPArg(command string) string {
	f := strings.Fields(command)
	for i := 1; i < len(f); i++ {
		if f[i] == "--" && i+1 < len(f) {
			return strings.Trim(f[i+1], `'"`)
		}
		if !strings.HasPrefix(f[i], "-") {
			return strings.Trim(f[i], `'"`)
		}
	}
	return ""
}

// Bytes takes the next bytes of the sender's stream; an error means the stream cannot be
// followed, and the session must end before they are relayed.
func (p *SCP) Bytes(b []byte) error {
	if p.failed != nil {
		return p.failed
	}
	p.sawBytes = p.sawBytes || len(b) > 0
	for len(b) > 0 {
		switch {
		case p.cur != nil:
			n := min(int64(len(b)), p.cur.size-p.cur.n)
			p.cur.h.Write(b[:n])
			p.cur.n += n
			b = b[n:]
			if p.cur.n == p.cur.size {
				p.done("")
				p.status = true
			}
		case p.status:
			// The sender's status after the data: 0, or an error whose line follows.
			p.status = false
			switch b[0] {
			case 0:
				b = b[1:]
			case 1, 2: // an error line follows
			default:
				return p.refuse("more data than the size the file announced")
			}
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if len(p.line)+len(b) > MaxSCPLine {
					return p.refuse("control line longer than %d bytes", MaxSCPLine)
				}
				p.line = append(p.line, b...)
				return nil
			}
			if len(p.line)+i > MaxSCPLine {
				return p.refuse("control line longer than %d bytes", MaxSCPLine)
			}
			line := string(append(p.line, b[:i]...))
			p.line = p.line[:0]
			b = b[i+1:]
			if err := p.control(line); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *SCP) refuse(format string, a ...any) error {
	p.failed = fmt.Errorf("scp stream refused: "+format, a...)
	p.audit(Event{Op: "refused", Path: p.arg, Comment: p.failed.Error()})
	return p.failed
}

// control handles one control line (without its newline).
func (p *SCP) control(line string) error {
	if line == "" {
		return p.refuse("empty control line")
	}
	switch line[0] {
	case 'T':
		return nil
	case 'E':
		if line != "E" || len(p.dirs) == 0 {
			return p.refuse("unexpected %q", line)
		}
		p.dirs = p.dirs[:len(p.dirs)-1]
		return nil
	case 1, 2:
		// A warning or an error from the sender (e.g. the target cannot read a file): audited.
		p.audit(Event{Op: "error", Path: p.arg, Status: "failed", Comment: strings.ToValidUTF8(line[1:], "?")})
		return nil
	case 'C', 'D':
	default:
		return p.refuse("unknown control byte 0x%02x", line[0])
	}
	f := strings.SplitN(line[1:], " ", 3)
	if len(f) != 3 || len(f[0]) != 4 || strings.Trim(f[0], "01234567") != "" {
		return p.refuse("bad control line %q", clip(line))
	}
	if f[1] == "" || len(f[1]) > 19 || strings.Trim(f[1], "0123456789") != "" {
		return p.refuse("bad size in %q", clip(line))
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return p.refuse("bad size in %q", clip(line))
	}
	name := f[2]
	if err := scpName(name); err != nil {
		return p.refuse("%v", err)
	}
	full := path.Join(append(append([]string{}, p.dirs...), name)...)
	if line[0] == 'D' {
		if len(p.dirs) >= maxSCPDepth {
			return p.refuse("more than %d directories deep", maxSCPDepth)
		}
		p.dirs = append(p.dirs, name)
		p.audit(Event{Op: "dir", Path: full, Path2: p.arg, Status: "ok"})
		return nil
	}
	p.cur = &scpFile{path: full, size: size, h: sha256.New()}
	if size == 0 {
		p.done("")
		p.status = true
	}
	return nil
}

// scpName refuses what OpenSSH's own sink refuses, and what would make the audit name another
// file than the one written: a '/', a NUL, "." or "..".
func scpName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("bad file name %q", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("file name %q holds '/' or NUL", clip(name))
	case len(name) > 4096:
		return errors.New("file name longer than 4096 bytes")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// done audits the current file.
func (p *SCP) done(comment string) {
	c := p.cur
	p.cur = nil
	ev := Event{Op: "file", Path: c.path, Path2: p.arg, Status: "ok", Comment: comment}
	sum := hex.EncodeToString(c.h.Sum(nil))
	if comment != "" {
		ev.Status, sum = "failed", "" // a partial file's hash is not the file's
	}
	if p.upload {
		ev.BytesWritten, ev.SHA256Write = c.n, sum
	} else {
		ev.BytesRead, ev.SHA256Read = c.n, sum
	}
	p.audit(ev)
}

// Close audits a file the stream ended inside of.
func (p *SCP) Close() {
	if p.cur != nil {
		p.done("transfer ended before the file's end")
	}
}

// Follower follows both directions of a relayed transfer: SFTP, or SCP (which reads only its
// sender's side).
type Follower interface {
	ClientBytes(p []byte) error
	ServerBytes(p []byte) error
	Close()
}

var (
	_ Follower = (*SCP)(nil)
	_ Follower = (*SFTP)(nil)
)

// ClientBytes follows what the client sends: the sender's stream of an upload.
func (p *SCP) ClientBytes(b []byte) error {
	if p.upload {
		return p.Bytes(b)
	}
	return nil
}

// ServerBytes follows what the target sends: the sender's stream of a download.
func (p *SCP) ServerBytes(b []byte) error {
	if !p.upload {
		return p.Bytes(b)
	}
	return nil
}
