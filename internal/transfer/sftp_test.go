package transfer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// packet builds one SFTP packet: type, then fields (uint32, uint64, string/[]byte).
func packet(typ byte, fields ...any) []byte {
	body := []byte{typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			body = binary.BigEndian.AppendUint32(body, v)
		case uint64:
			body = binary.BigEndian.AppendUint64(body, v)
		case string:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		case []byte:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func collect() (*SFTP, *[]Event) {
	var evs []Event
	return NewSFTP(func(e Event) { evs = append(evs, e) }), &evs
}

func TestSFTPWriteReadTotals(t *testing.T) {
	s, evs := collect()
	data := []byte(strings.Repeat("x", 1000))
	steps := []struct {
		client bool
		pkt    []byte
	}{
		{true, packet(fxpInit, uint32(3))},
		{false, packet(2, uint32(3))},
		{true, packet(fxpOpen, uint32(1), "/tmp/f", uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))},
		{false, packet(fxpHandle, uint32(1), "H1")},
		{true, packet(fxpWrite, uint32(2), "H1", uint64(0), data[:600])},
		{true, packet(fxpWrite, uint32(3), "H1", uint64(600), data[600:])},
		{false, packet(fxpStatus, uint32(2), uint32(0))},
		{false, packet(fxpStatus, uint32(3), uint32(0))},
		{true, packet(fxpClose, uint32(4), "H1")},
		{false, packet(fxpStatus, uint32(4), uint32(0))},
		{true, packet(fxpOpen, uint32(5), "/tmp/f", uint32(fxfRead), uint32(0))},
		{false, packet(fxpHandle, uint32(5), "H2")},
		{true, packet(fxpRead, uint32(6), "H2", uint64(0), uint32(32768))},
		{false, packet(fxpData, uint32(6), data)},
		{true, packet(fxpClose, uint32(7), "H2")},
		{false, packet(fxpStatus, uint32(7), uint32(0))},
		{true, packet(fxpRename, uint32(8), "/tmp/f", "/tmp/../etc/g")},
		{false, packet(fxpStatus, uint32(8), uint32(4))},
		{true, packet(fxpRemove, uint32(9), "/tmp/f")},
		{false, packet(fxpStatus, uint32(9), uint32(0))},
	}
	for i, st := range steps {
		var err error
		// Fed in two pieces: a packet split across reads is reassembled.
		half := len(st.pkt) / 2
		for _, part := range [][]byte{st.pkt[:half], st.pkt[half:]} {
			if st.client {
				err = s.ClientBytes(part)
			} else {
				err = s.ServerBytes(part)
			}
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
	}
	sum := sha256.Sum256(data)
	want := []Event{
		{Op: "open", Path: "/tmp/f", Flags: "write,create,truncate", Status: "ok"},
		{Op: "close", Path: "/tmp/f", BytesWritten: 1000, SHA256Write: hex.EncodeToString(sum[:]), Status: "ok"},
		{Op: "open", Path: "/tmp/f", Flags: "read", Status: "ok"},
		{Op: "close", Path: "/tmp/f", BytesRead: 1000, SHA256Read: hex.EncodeToString(sum[:]), Status: "ok"},
		{Op: "rename", Path: "/tmp/f", Path2: "/tmp/../etc/g", Status: "failed"},
		{Op: "remove", Path: "/tmp/f", Status: "ok"},
	}
	if len(*evs) != len(want) {
		t.Fatalf("events %+v", *evs)
	}
	for i := range want {
		if (*evs)[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, (*evs)[i], want[i])
		}
	}
}

// TestSFTPOutOfOrderWritesHaveNoHash: a hash of writes at scattered offsets would not be the
// file's; the totals say so by giving none.
func TestSFTPOutOfOrderWritesHaveNoHash(t *testing.T) {
	s, evs := collect()
	for _, p := range [][]byte{
		packet(fxpOpen, uint32(1), "/f", uint32(fxfWrite), uint32(0)),
	} {
		_ = s.ClientBytes(p)
	}
	_ = s.ServerBytes(packet(fxpHandle, uint32(1), "H"))
	_ = s.ClientBytes(packet(fxpWrite, uint32(2), "H", uint64(10), "abc"))
	s.Close()
	last := (*evs)[len(*evs)-1]
	if last.Op != "close" || last.BytesWritten != 3 || last.SHA256Write != "" || last.Comment == "" {
		t.Fatalf("%+v", last)
	}
}

// TestSFTPRefusals: what the audit cannot follow ends the stream, with a "refused" event.
func TestSFTPRefusals(t *testing.T) {
	long := strings.Repeat("a", 64*1024)
	cases := []struct {
		name string
		pkt  []byte
	}{
		{"NUL in a path", packet(fxpRemove, uint32(1), "/etc/passwd\x00.txt")},
		{"64 kB name", packet(fxpOpen, uint32(1), "/tmp/"+long, uint32(fxfWrite), uint32(0))},
		{"long rename target", packet(fxpRename, uint32(1), "/a", long)},
		{"length beyond the limit", binary.BigEndian.AppendUint32(nil, MaxPacket+1)},
		{"zero length", binary.BigEndian.AppendUint32(nil, 0)},
		{"string longer than the packet", packet(fxpMkdir, uint32(1), uint32(1000))},
		{"no id", packet(fxpRemove)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, evs := collect()
			err := s.ClientBytes(c.pkt)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err %v", err)
			}
			if len(*evs) != 1 || (*evs)[0].Op != "refused" {
				t.Fatalf("events %+v", *evs)
			}
			if err := s.ClientBytes(packet(fxpInit, uint32(3))); !errors.Is(err, ErrRefused) {
				t.Fatal("a refused stream went on")
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for _, c := range []struct {
		path string
		ok   bool
	}{
		{"/etc/shadow", true}, {"../../etc/shadow", true}, {"", true}, {"a\x00b", false},
		{strings.Repeat("a", MaxPath), true}, {strings.Repeat("a", MaxPath+1), false},
	} {
		if err := CheckPath([]byte(c.path)); (err == nil) != c.ok {
			t.Errorf("CheckPath(%q…): %v", c.path[:min(len(c.path), 20)], err)
		}
	}
}

// TestSFTPInFlightBounded: a client that never reads replies cannot grow the parser's state.
func TestSFTPInFlightBounded(t *testing.T) {
	s, _ := collect()
	var err error
	for i := uint32(0); i <= MaxInFlight && err == nil; i++ {
		err = s.ClientBytes(packet(fxpRemove, i, "/x"))
	}
	if !errors.Is(err, ErrRefused) || s.waiting() > MaxInFlight {
		t.Fatalf("err %v, %d in flight", err, s.waiting())
	}
}

// FuzzSFTP: any bytes, in either direction, never panic, and the state stays bounded.
func FuzzSFTP(f *testing.F) {
	f.Add(packet(fxpOpen, uint32(1), "/f", uint32(3), uint32(0)), packet(fxpHandle, uint32(1), "H"))
	f.Add(packet(fxpWrite, uint32(2), "H", uint64(0), "data"), packet(fxpStatus, uint32(2), uint32(0)))
	f.Add(packet(fxpExtended, uint32(3), "posix-rename@openssh.com", "/a", "/b"), packet(fxpStatus, uint32(3), uint32(0)))
	f.Add(packet(fxpRead, uint32(4), "H", uint64(0), uint32(10)), packet(fxpData, uint32(4), "0123456789"))
	f.Add([]byte{0, 0, 0, 1}, []byte{0, 0, 0, 5, 101})
	f.Fuzz(func(t *testing.T, client, server []byte) {
		s := NewSFTP(func(Event) {})
		_ = s.ClientBytes(client)
		_ = s.ServerBytes(server)
		_ = s.ClientBytes(client)
		s.Close()
		if s.waiting() > MaxInFlight || len(s.files) > MaxOpen || len(s.client.buf) > MaxPacket+4 || len(s.server.buf) > MaxPacket+4 {
			t.Fatal("state beyond its bounds")
		}
	})
}

// TestSFTPGuessedHandlesAndReusedIDs: a client that writes or reads on a handle the target has
// not given yet (OpenSSH's first handle is four zero bytes: easy to guess, and pipelined before
// the reply the bytes would be counted nowhere), or that sends a request with the id of one
// still waiting (its reply, a handle, would be audited under the second request's path), is
// refused; the same writes on the handle the target gave are counted.
func TestSFTPGuessedHandlesAndReusedIDs(t *testing.T) {
	h := "\x00\x00\x00\x00"
	open := packet(fxpOpen, uint32(1), "/tmp/x", uint32(fxfWrite), uint32(0))
	for _, c := range []struct {
		name    string
		stream  [][]byte // client packets
		comment string
	}{
		{"write before the handle", [][]byte{open, packet(fxpWrite, uint32(2), h, uint64(0), "data")}, "a write on a handle the target did not give"},
		{"read before the handle", [][]byte{open, packet(fxpRead, uint32(2), h, uint64(0), uint32(10))}, "a read on a handle the target did not give"},
		{"write on no handle at all", [][]byte{packet(fxpWrite, uint32(2), "zz", uint64(0), "data")}, "a write on a handle the target did not give"},
		{"an id reused while waiting", [][]byte{packet(fxpOpen, uint32(1), "/etc/shadow", uint32(fxfRead), uint32(0)), open}, "request id 1 is already waiting for its reply"},
		// A stat is not audited one by one, but its id is taken: a remove with the same id would
		// have its place taken by the stat's ATTRS reply and its event dropped.
		{"an id of a stat reused by a remove", [][]byte{packet(byte(7), uint32(7), "/etc") /* SSH_FXP_LSTAT */, packet(fxpRemove, uint32(7), "/etc/important")}, "request id 7 is already waiting for its reply"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, evs := collect()
			var err error
			for _, p := range c.stream {
				if err = s.ClientBytes(p); err != nil {
					break
				}
			}
			if c.comment == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err %v", err)
			}
			if last := (*evs)[len(*evs)-1]; last.Op != "refused" || last.Comment != c.comment {
				t.Fatalf("events %+v", *evs)
			}
		})
	}
	// Honest: the handle from the reply, writes at any offsets, counted (no hash: not in order).
	s, evs := collect()
	for _, step := range []struct {
		client bool
		pkt    []byte
	}{
		{true, open}, {false, packet(fxpHandle, uint32(1), h)},
		{true, packet(fxpWrite, uint32(2), h, uint64(1<<32), "abc")}, {true, packet(fxpWrite, uint32(3), h, uint64(0), "de")},
		{true, packet(fxpRead, uint32(4), h, uint64(0), uint32(10))},
		{true, packet(fxpRead, uint32(4), h, uint64(0), uint32(10))}, // the same id: refused
	} {
		var err error
		if step.client {
			err = s.ClientBytes(step.pkt)
		} else {
			err = s.ServerBytes(step.pkt)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "request id 4 is already waiting") {
				t.Fatal(err)
			}
			s.Close()
			for _, e := range *evs {
				if e.Op == "close" && (e.BytesWritten != 5 || e.SHA256Write != "") {
					t.Fatalf("close %+v", e)
				}
			}
			return
		}
	}
	t.Fatal("a read id reused while waiting was accepted")
}
