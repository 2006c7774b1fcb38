package transfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// captureRsync runs the real rsync with args (src and dst are local paths; dst gets the
// "host:" prefix) through an rsh that tees both directions to files, with the server command
// passed through RsyncServerCommand as the bastion does; it returns the server command and the
// client's and server's streams.
func captureRsync(t *testing.T, args ...string) (string, []byte, []byte) {
	t.Helper()
	if _, err := exec.LookPath("rsync"); err != nil {
		// testenv.Need's rule (testenv imports this package): CI must run it.
		if os.Getenv("CI") == "true" {
			t.Fatal("rsync is not installed; CI must run this test (scripts/test.sh installs it)")
		}
		t.Skip("rsync is not installed (scripts/test.sh installs it)")
	}
	dir := t.TempDir()
	cin, sout, cmdf := filepath.Join(dir, "client.bin"), filepath.Join(dir, "server.bin"), filepath.Join(dir, "cmd")
	helper := filepath.Join(dir, "rsh")
	// The rsh gets "HOST rsync --server …": it takes the 'i' out of the capabilities as the
	// bastion does, records the command and runs it here, teeing both directions.
	script := fmt.Sprintf(`#!/bin/sh
shift
cmd=""
for a in "$@"; do
  case "$a" in
    --*) ;;
    -*e.*) pre="${a%%%%e.*}"; post="${a#*e.}"; a="${pre}e.$(printf %%s "$post" | tr -d i)";;
  esac
  cmd="$cmd $a"
done
echo "$cmd" > %s
mkfifo %s.fifo
exec 3<&0
tee %s <&3 > %s.fifo &
sh -c "$cmd" < %s.fifo | tee %s
kill $! 2>/dev/null
`, cmdf, cin, cin, cin, cin, sout)
	if err := os.WriteFile(helper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"-e", helper}, args...)
	full[len(full)-1] = "host:" + full[len(full)-1]
	if strings.HasPrefix(args[len(args)-2], "DOWN:") {
		full[len(full)-2] = "host:" + strings.TrimPrefix(args[len(args)-2], "DOWN:")
		full[len(full)-1] = args[len(args)-1]
	}
	out, err := exec.Command("rsync", full...).CombinedOutput()
	if err != nil {
		t.Fatalf("rsync %v: %v %s", full, err, out)
	}
	cmd, _ := os.ReadFile(cmdf)
	c, _ := os.ReadFile(cin)
	s, _ := os.ReadFile(sout)
	return strings.TrimSpace(string(cmd)), c, s
}

func tree(t *testing.T) (string, map[string]int64) {
	t.Helper()
	src := t.TempDir()
	files := map[string]int64{"a.bin": 70001, "sub/b.bin": 3000, "sub/deeper/c.txt": 0, "sp ace/ü.txt": 12,
		strings.Repeat("n", 200) + "/" + strings.Repeat("m", 200): 5}
	for name, size := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("x"), int(size)), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.bin", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "a.bin"), filepath.Join(src, "hard")); err != nil {
		t.Fatal(err)
	}
	files["hard"] = 70001
	return src, files
}

// TestRsyncListFromRealRsync: the real rsync's streams, up and down, with the options people
// use (-av, -aH, -az, -ac, --delete, --checksum-choice, -R): every file of the tree is read
// with its size, names with their shared prefixes rebuilt, in both directions.
func TestRsyncListFromRealRsync(t *testing.T) {
	for _, opts := range [][]string{{"-av"}, {"-aH"}, {"-az"}, {"-ac"}, {"-av", "--delete"}, {"-a", "--checksum-choice=md5"}, {"-rlptD"}, {"-a", "--numeric-ids", "-U"}} {
		for _, down := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s down=%v", strings.Join(opts, " "), down), func(t *testing.T) {
				src, files := tree(t)
				dst := t.TempDir()
				args := append(slices.Clone(opts), src+"/", dst+"/")
				if down {
					args[len(args)-2] = "DOWN:" + src + "/"
				}
				cmd, c, s := captureRsync(t, args...)
				o, ok := ParseRsyncServer(cmd)
				if !ok || o.Sender != down {
					t.Fatalf("command %q: %+v %v", cmd, o, ok)
				}
				got := map[string]RsyncFile{}
				n, err := ReadRsyncList(o, bytes.NewReader(c), bytes.NewReader(s), func(f RsyncFile) { got[f.Path] = f })
				if err != nil {
					t.Fatalf("%q: %v after %d entries (%v)", cmd, err, n, got)
				}
				for name, size := range files {
					f, ok := got[name]
					if !ok || f.Size != size || f.Type() != "file" || f.Mode&0o777 != 0o640 {
						t.Errorf("%s: %+v (%v), want size %d", name, f, ok, size)
					}
				}
				if f := got["link"]; f.Type() != "symlink" {
					t.Errorf("link: %+v", f)
				}
				if f := got["sub"]; f.Type() != "dir" {
					t.Errorf("sub: %+v", f)
				}
			})
		}
	}
}

// TestRsyncServerCommand: only the 'i' of the capabilities after "e." goes; other commands stay.
func TestRsyncServerCommand(t *testing.T) {
	for in, want := range map[string]string{
		"rsync --server -vlogDtpre.iLsfxCIvu . /dst/":                  "rsync --server -vlogDtpre.LsfxCIvu . /dst/",
		"rsync --server --sender -vlogDtpre.iLsfxCIvu . /src/":         "rsync --server --sender -vlogDtpre.LsfxCIvu . /src/",
		"/usr/bin/rsync --server -vie.iLsfxCIvu --delete . /d":         "/usr/bin/rsync --server -vie.LsfxCIvu --delete . /d",
		"rsync --server -vlogDtpre.LsfxCIvu . /dst/":                   "rsync --server -vlogDtpre.LsfxCIvu . /dst/",
		"echo rsync --server -e.iLs":                                   "echo rsync --server -e.iLs",
		"rsync --server -vlogDtpr . /dst/":                             "rsync --server -vlogDtpr . /dst/",
		"rsync --server -vlogDtpre.iL;s . /x":                          "rsync --server -vlogDtpre.iL;s . /x",
		"rsync -e.iLs --server":                                        "rsync -e.iLs --server",
		"rsync --server --log-format=X -vlogDtpre.iLsfxCIvu . /dst/ i": "rsync --server --log-format=X -vlogDtpre.LsfxCIvu . /dst/ i",
		"rsync --server -e.iLs -vlogDtpre.iLsfxCIvu . /x":              "rsync --server -e.Ls -vlogDtpre.LsfxCIvu . /x",
		"rsync --server -vlogDtpre.iLsfxCIvu --rsh=.iLsfxCIvu . /x":    "rsync --server -vlogDtpre.LsfxCIvu --rsh=.LsfxCIvu . /x",
	} {
		if got := RsyncServerCommand(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// rsyncStream builds a stream as rsync 3.2+ sends it (protocol 31, varint flags, negotiation)
// for the fuzz seeds and the bad-input table.
type rsyncStream struct{ client, server, data bytes.Buffer }

func varint(b *bytes.Buffer, v uint32) {
	switch {
	case v < 0x80:
		b.WriteByte(byte(v))
	case v < 0x4000:
		b.Write([]byte{0x80 | byte(v>>8), byte(v)})
	default:
		b.Write([]byte{0xE0, byte(v), byte(v >> 8), byte(v >> 16)}) // v < 2^24 with extra=3... kept simple
	}
}

func newStream(proto int32, compat uint32) *rsyncStream {
	s := &rsyncStream{}
	_ = binary.Write(&s.client, binary.LittleEndian, proto)
	_ = binary.Write(&s.server, binary.LittleEndian, proto)
	varint(&s.server, compat)
	if compat&cfVarintFlistFlags != 0 {
		s.client.Write(append([]byte{3}, "md5"...))
		s.server.Write(append([]byte{3}, "md5"...))
	}
	_ = binary.Write(&s.server, binary.LittleEndian, int32(12345)) // seed
	return s
}

// entry adds a file list entry (regular file, new mode and time each time, no shared prefix
// unless l1 > 0).
func (s *rsyncStream) entry(name string, l1 int, size int64, mode uint32) {
	flags := uint32(0)
	if l1 > 0 {
		flags |= xmitSameName
	}
	if flags == 0 {
		flags = xmitExtendedFlags
	}
	varint(&s.data, flags)
	if l1 > 0 {
		s.data.WriteByte(byte(l1))
	}
	s.data.WriteByte(byte(len(name) - l1))
	s.data.WriteString(name[l1:])
	// varlong(size, 3): three low bytes, first byte 0 (no extra) when size < 2^16… kept simple:
	s.data.Write([]byte{byte(size >> 16), byte(size), byte(size >> 8)})
	s.data.Write([]byte{0, 0, 0, 0}) // modtime, varlong 4
	_ = binary.Write(&s.data, binary.LittleEndian, mode)
}

func (s *rsyncStream) end() {
	s.data.Write([]byte{0, 0})
}

// frames puts the data in MSG_DATA frames (with an info message between) on the client's side.
func (s *rsyncStream) frames() ([]byte, []byte) {
	out := bytes.Clone(s.client.Bytes())
	d := s.data.Bytes()
	half := len(d) / 2
	for i, part := range [][]byte{d[:half], d[half:]} {
		_ = binary.Write((*bytesWriter)(&out), binary.LittleEndian, uint32(rsyncMplexBase)<<24|uint32(len(part)))
		out = append(out, part...)
		if i == 0 {
			msg := "info"
			_ = binary.Write((*bytesWriter)(&out), binary.LittleEndian, uint32(rsyncMplexBase+2)<<24|uint32(len(msg)))
			out = append(out, msg...)
		}
	}
	return out, s.server.Bytes()
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// TestRsyncListTable: a hand-made stream is read exactly; lying streams (a prefix longer than
// the last name, a NUL, a name past 4096 bytes, an old protocol, incremental recursion, a
// stream cut short, an unmultiplexed stream) are refused with a reason, never a crash.
func TestRsyncListTable(t *testing.T) {
	good := newStream(31, cfVarintFlistFlags)
	good.entry("dir/a", 0, 100, 0o100644)
	good.entry("dir/bb", 4, 70000, 0o100600)
	good.end()
	c, s := good.frames()
	var got []RsyncFile
	n, err := ReadRsyncList(RsyncOptions{}, bytes.NewReader(c), bytes.NewReader(s), func(f RsyncFile) { got = append(got, f) })
	want := []RsyncFile{{"dir/a", 100, 0o100644}, {"dir/bb", 70000, 0o100600}}
	if err != nil || n != 2 || !slices.Equal(got, want) {
		t.Fatalf("good stream: %d %v %+v", n, err, got)
	}
	bad := map[string]func() ([]byte, []byte){
		"prefix too long": func() ([]byte, []byte) {
			st := newStream(31, cfVarintFlistFlags)
			st.entry("a", 0, 1, 0o100644)
			st.entry("abcdef", 5, 1, 0o100644)
			return st.frames()
		},
		"NUL in a name": func() ([]byte, []byte) {
			st := newStream(31, cfVarintFlistFlags)
			st.entry("a\x00b", 0, 1, 0o100644)
			return st.frames()
		},
		"old protocol": func() ([]byte, []byte) { return newStream(29, 0).frames() },
		"incremental recursion": func() ([]byte, []byte) {
			return newStream(31, cfVarintFlistFlags|cfIncRecurse).frames()
		},
		"cut short": func() ([]byte, []byte) {
			st := newStream(31, cfVarintFlistFlags)
			st.entry("a", 0, 1, 0o100644)
			c, s := st.frames()
			return c[:len(c)-3], s
		},
		"not multiplexed": func() ([]byte, []byte) {
			st := newStream(31, cfVarintFlistFlags)
			return append(bytes.Clone(st.client.Bytes()), 0, 0, 0, 1), st.server.Bytes()
		},
		"empty": func() ([]byte, []byte) { return nil, nil },
	}
	for name, mk := range bad {
		c, s := mk()
		if _, err := ReadRsyncList(RsyncOptions{}, bytes.NewReader(c), bytes.NewReader(s), func(RsyncFile) {}); err == nil {
			t.Errorf("%s: read without error", name)
		}
	}
	// A name longer than 4096 bytes through the long-name form.
	st := newStream(31, cfVarintFlistFlags)
	varint(&st.data, xmitLongName)
	varint(&st.data, 5000)
	st.data.WriteString(strings.Repeat("n", 5000))
	c, s = st.frames()
	if _, err := ReadRsyncList(RsyncOptions{}, bytes.NewReader(c), bytes.NewReader(s), func(RsyncFile) {}); err == nil {
		t.Error("a 5000-byte name was read")
	}
	if _, err := ReadRsyncList(RsyncOptions{ACLs: true}, bytes.NewReader(c), bytes.NewReader(s), func(RsyncFile) {}); err == nil {
		t.Error("-A was read")
	}
}

// TestRsyncFollowerNeverBlocks: the follower's writes return at once even when nothing reads
// (a parser stuck waiting for the other side), and past the pending bound the list is given
// up as "fell behind" while the relay goes on; Close always returns.
func TestRsyncFollowerNeverBlocks(t *testing.T) {
	var mu sync.Mutex
	var evs []Event
	r := NewRsync("rsync --server -vlogDtpre.LsfxCIvu . /dst/", func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() })
	chunk := make([]byte, 1<<20)
	start := time.Now()
	for range 64 { // 64 MiB from the client; the parser waits for the server's version
		if err := r.ClientBytes(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("writes took %v", d)
	}
	r.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 1 || evs[0].Op != "list" || evs[0].Status != "failed" || !strings.Contains(evs[0].Comment, "could not be read") {
		t.Fatalf("events %+v", evs)
	}
}

// FuzzRsyncList: whatever the two streams hold, the reader returns (an error or the end of the
// list) without panicking, and every entry it gives has a bounded name without NUL and a size
// that is not negative.
func FuzzRsyncList(f *testing.F) {
	good := newStream(31, cfVarintFlistFlags)
	good.entry("dir/a", 0, 100, 0o100644)
	good.entry("dir/bb", 4, 70000, 0o100600)
	good.end()
	c, s := good.frames()
	f.Add(c, s, uint8(0))
	f.Add(c, s, uint8(0xff))
	old := newStream(30, 0)
	old.data.Write([]byte{0x02, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0})
	c2, s2 := old.frames()
	f.Add(c2, s2, uint8(3))
	f.Fuzz(func(t *testing.T, client, server []byte, opts uint8) {
		o := RsyncOptions{Links: opts&1 != 0, Owner: opts&2 != 0, Group: opts&4 != 0, Devices: opts&8 != 0, Specials: opts&8 != 0,
			HardLinks: opts&16 != 0, Checksum: opts&32 != 0, Sender: opts&64 != 0, FilterList: opts&128 != 0}
		_, err := ReadRsyncList(o, bytes.NewReader(client), bytes.NewReader(server), func(e RsyncFile) {
			if e.Path == "" || len(e.Path) > rsyncMaxPath || strings.IndexByte(e.Path, 0) >= 0 || e.Size < 0 {
				t.Fatalf("entry %+v", e)
			}
		})
		if err != nil && errors.Is(err, io.EOF) {
			t.Fatalf("a bare EOF: %v", err)
		}
	})
}

// TestRsyncSecludedArgsAuditedUnreadable: with -s the options travel inside the stream: the
// list is not read, and says why (the transfer itself is not stopped by the follower).
func TestRsyncSecludedArgsAuditedUnreadable(t *testing.T) {
	src, _ := tree(t)
	cmd, c, s := captureRsync(t, "-as", src+"/", t.TempDir()+"/")
	o, ok := ParseRsyncServer(cmd)
	if !ok || !o.Secluded {
		t.Fatalf("%q: %+v", cmd, o)
	}
	if _, err := ReadRsyncList(o, bytes.NewReader(c), bytes.NewReader(s), func(RsyncFile) {}); err == nil || !strings.Contains(err.Error(), "secluded") {
		t.Fatalf("-s: %v", err)
	}
}

// BenchmarkRsyncListEntries: reading a list of 10,000 entries (names sharing their prefix, as
// in a tree), per entry.
func BenchmarkRsyncListEntries(b *testing.B) {
	st := newStream(31, cfVarintFlistFlags)
	last := ""
	for i := range 10000 {
		name := fmt.Sprintf("dir/sub%03d/file%05d.dat", i/100, i)
		l1 := 0
		for l1 < len(last) && l1 < len(name) && last[l1] == name[l1] && l1 < 255 {
			l1++
		}
		st.entry(name, l1, int64(i*100), 0o100644)
		last = name
	}
	st.end()
	c, s := st.frames()
	b.SetBytes(int64(len(c)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := ReadRsyncList(RsyncOptions{}, bytes.NewReader(c), bytes.NewReader(s), func(RsyncFile) {})
		if err != nil || n != 10000 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkRsyncFollowerAfterList: what the relay pays per 32 KiB write once the list has
// been read (the file data): the follower copies nothing any more.
func BenchmarkRsyncFollowerAfterList(b *testing.B) {
	st := newStream(31, cfVarintFlistFlags)
	st.entry("a", 0, 1, 0o100644)
	st.end()
	c, s := st.frames()
	done := make(chan struct{})
	r := NewRsync("rsync --server -vre.LsfxCIvu . /d", func(e Event) { // the stream's entries carry no owner
		if e.Op == "list" {
			close(done)
		}
	})
	_ = r.ServerBytes(s)
	_ = r.ClientBytes(c)
	<-done
	chunk := make([]byte, 32<<10)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		_ = r.ClientBytes(chunk)
	}
	r.Close()
}

// TestRsyncFollowerPanicEndsOnlyTheList: a panic on the follower's goroutine (here from the
// audit's callback on the first entry) does not end the process: the list is audited as
// unreadable, with the reason, and the relay's writes still return.
func TestRsyncFollowerPanicEndsOnlyTheList(t *testing.T) {
	st := newStream(31, cfVarintFlistFlags)
	st.entry("a", 0, 1, 0o100644)
	st.end()
	c, s := st.frames()
	list := make(chan Event, 1)
	r := NewRsync("rsync --server -vre.LsfxCIvu . /d", func(e Event) {
		switch e.Op {
		case "file":
			panic("audit callback failed")
		case "list":
			list <- e
		}
	})
	_ = r.ServerBytes(s)
	_ = r.ClientBytes(c)
	e := <-list
	if e.Status != "failed" || !strings.Contains(e.Comment, "audit callback failed") {
		t.Fatalf("list event after a panic: %+v", e)
	}
	_ = r.ClientBytes(make([]byte, 1024))
	r.Close()
}
