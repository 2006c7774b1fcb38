package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// #12's "Bad input", as an attacker would send it, with the real ssh client carrying the raw
// scp and SFTP protocols to a real sshd target through the bastion (both transparent ways):
// each a clear error, an audit event, nothing written where it should not be.

// badInputWays are the two transparent ways to run a command on the target.
func badInputWays(j *jumpEnv) []struct {
	name string
	args []string
} {
	return []struct {
		name string
		args []string
	}{
		{"jump", []string{"-F", j.cfg, "-p", fmt.Sprint(j.sshd.Port), j.target()}},
		{"user name", []string{"-F", j.cfg, "-o", "User=" + j.userTarget(), "bastion"}},
	}
}

// TestSCPUploadLies: a client speaking scp's legacy protocol to `scp -t DIR` lies: a size
// larger than the data (the data ends short), a size smaller than the data, names that climb
// out of DIR ("..", "../x", "/abs"), a NUL, a 64 kB name, a negative or 20-digit size, a
// directory named "..", an E without its D. The lies about names and sizes end the session
// before the line reaches the target (scp.refused with the reason); a short file is audited as
// failed with the bytes that came and no hash. Nothing is written outside DIR.
func TestSCPUploadLies(t *testing.T) {
	j := startJump(t)
	long := strings.Repeat("a", 64*1024)
	cases := []struct {
		name, stream string
		comment      string // scp.refused's comment; "" for the short file
	}{
		{"short data", "C0644 1000 short\n0123456789", ""},
		{"more data than the size", "C0644 5 long\n0123456789\x00", "scp stream refused: more data than the size the file announced"},
		{"dot dot", "C0644 5 ..\n01234\x00", `scp stream refused: bad file name ".."`},
		{"climb", "C0644 5 ../escape\n01234\x00", `scp stream refused: file name "../escape" holds '/' or NUL`},
		{"absolute", "C0644 5 /tmp/escape\n01234\x00", `scp stream refused: file name "/tmp/escape" holds '/' or NUL`},
		{"NUL", "C0644 5 a\x00b\n01234\x00", `scp stream refused: file name "a\x00b" holds '/' or NUL`},
		{"64 kB name", "C0644 5 " + long + "\n01234\x00", "scp stream refused: control line longer than 4160 bytes"},
		{"negative size", "C0644 -5 neg\n", `scp stream refused: bad size in "C0644 -5 neg"`},
		{"20-digit size", "C0644 99999999999999999999 big\n", `scp stream refused: bad size in "C0644 99999999999999999999 big"`},
		{"directory dot dot", "D0755 0 ..\nC0644 5 escape\n01234\x00E\n", `scp stream refused: bad file name ".."`},
		{"E without D", "E\n", `scp stream refused: unexpected "E"`},
	}
	for _, way := range badInputWays(j) {
		t.Run(way.name, func(t *testing.T) {
			for _, c := range cases {
				parent := t.TempDir()
				dir := filepath.Join(parent, "in")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				_, errs, code := j.run(t, c.stream, "ssh", append(way.args, "scp -t "+dir)...)
				if code == 0 {
					t.Errorf("%s: the upload ended well: %q", c.name, errs)
				}
				if c.comment != "" {
					waitAudit(t, j.b, "scp.refused", map[string]any{"account": "alice", "path": dir, "comment": c.comment})
					if entries, _ := os.ReadDir(dir); len(entries) != 0 && c.name != "more data than the size" {
						t.Errorf("%s: written in the directory: %v", c.name, entries)
					}
				} else {
					waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "short", "path2": dir, "status": "failed",
						"bytes_written": "10", "comment": "transfer ended before the file's end"})
				}
				// Whatever the lie, nothing outside the directory, nothing bigger than announced.
				if entries, _ := os.ReadDir(parent); len(entries) != 1 {
					t.Errorf("%s: written beside the directory: %v", c.name, entries)
				}
				if fi, err := os.Stat(filepath.Join(dir, "long")); err == nil && fi.Size() > 5 {
					t.Errorf("%s: %d bytes written for a 5-byte file", c.name, fi.Size())
				}
				if _, err := os.Stat("/tmp/escape"); err == nil {
					t.Fatalf("%s: /tmp/escape written", c.name)
				}
			}
		})
	}
	allClosed(t, j)
	// The refused events never carry a hash; the short file neither.
	for _, e := range auditEntries(t, j.b, "scp.file") {
		if f, _ := e["fields"].(map[string]any); f != nil {
			if x, _ := f["extra"].(map[string]any); x != nil && x["status"] == "failed" && (f["sha256_written"] != nil || x["sha256_written"] != nil) {
				t.Fatalf("a failed file carries a hash: %v", e)
			}
		}
	}
}

// allClosed waits until every session alice opened on the targets is audited as closed too
// (a refused stream leaves no session half-recorded).
func allClosed(t *testing.T, j *jumpEnv) {
	t.Helper()
	opened := countAudit(t, j.b, "connection.open", map[string]any{"account": "alice"})
	if opened == 0 {
		t.Fatal("no session audited")
	}
	waitAuditCount(t, j.b, "connection.close", map[string]any{"account": "alice"}, opened)
}

// lyingTarget starts a second sshd for alice's egress key whose PATH finds a fake scp first
// (script: what the target's side sends), and grants alice the SSH access and scp downloads
// on it; it returns the sshd.
func lyingTarget(t *testing.T, j *jumpEnv, script string) *sshtest.SSHD {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "scp"), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return extraTarget(t, j, []string{"SetEnv PATH=" + bin + ":/usr/bin:/bin"}, "--scpdown")
}

// extraTarget starts a second sshd (extra: its own sshd_config lines) for alice's egress key,
// and grants alice the SSH access and the protocols on it.
func extraTarget(t *testing.T, j *jumpEnv, extra []string, protocols ...string) *sshtest.SSHD {
	t.Helper()
	sshd := sshtest.StartSSHDWith(t, sshtest.Options{Extra: extra})
	keys, err := os.ReadFile(j.sshd.AuthorizedKeys)
	if err != nil {
		t.Fatal(err)
	}
	sshd.Authorize(t, strings.TrimSpace(string(keys)))
	if _, err := j.b.App.Store.AddACL(context.Background(), store.ACLEntry{Kind: store.ACLPersonal, Owner: "alice",
		Host: "127.0.0.1", User: sshd.User, Port: sshd.Port, AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, p := range protocols {
		j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(sshd.Port), p)
	}
	return sshd
}

// TestSFTPTargetClosesMidTransfer: the target's SFTP server dies (SIGKILL) in the middle of a
// download through the jump, with the real sftp: the client fails at once, the audit has the
// file closed as failed ("session ended with the file open") with fewer bytes than the file,
// and the session's own close (nothing left half-recorded).
func TestSFTPTargetClosesMidTransfer(t *testing.T) {
	if _, err := os.Stat("/usr/lib/openssh/sftp-server"); err != nil {
		testenv.Need(t, "OpenSSH's sftp-server is not installed (scripts/test.sh installs openssh-sftp-server)")
	}
	j := startJump(t)
	bin := t.TempDir()
	server, pidFile := filepath.Join(bin, "sftp-server"), filepath.Join(bin, "pid")
	if err := os.WriteFile(server, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec /usr/lib/openssh/sftp-server\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sshd := extraTarget(t, j, []string{"ForceCommand " + server}, "--sftp")
	remote := filepath.Join(t.TempDir(), "big.bin")
	randomFile(t, remote, 4<<20)
	batch := filepath.Join(j.dir, "cut.batch")
	if err := os.WriteFile(batch, []byte("get "+remote+" "+filepath.Join(t.TempDir(), "got.bin")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// -l: 4 Mbit/s, so that the download is still running when the server dies.
	cmd := exec.CommandContext(ctx, "sftp", "-l", "4000", "-F", j.cfg, "-P", fmt.Sprint(sshd.Port), "-b", batch, sshd.User+"@127.0.0.1")
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	waitAudit(t, j.b, "sftp.open", map[string]any{"account": "alice", "path": remote})
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a download whose server died ended well")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the client still waits after the target's server died")
	}
	want := map[string]any{"account": "alice", "path": remote, "status": "failed", "comment": "session ended with the file open", "port_to": fmt.Sprint(sshd.Port)}
	waitAudit(t, j.b, "sftp.close", want)
	for _, e := range auditEntries(t, j.b, "sftp.close") {
		if auditCarries(e, want) && auditCarries(e, map[string]any{"bytes_read": fmt.Sprint(4 << 20)}) {
			t.Fatalf("a cut download audited whole: %v", e)
		}
	}
	waitAudit(t, j.b, "connection.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(sshd.Port)})
}

// TestSCPDownloadTargetLies: a target whose scp lies to the real `scp -O` client through the
// jump: a file name that climbs out of the client's directory (the attack OpenSSH's client
// learnt to refuse, CVE-2019-6111), more data than the size it announced, and a file cut in the
// middle (the target closes mid-transfer). The bastion refuses the lies before they reach the
// client (scp.refused), audits the cut file as failed without a hash, and the client writes
// nothing outside its directory; each session is audited to its end (no half-recorded session).
func TestSCPDownloadTargetLies(t *testing.T) {
	j := startJump(t)
	for _, c := range []struct {
		name, script string
		event        string
		want         map[string]any
	}{
		{"climb", `printf 'C0644 5 ../evil\n01234\000'; sleep 5`, "scp.refused",
			map[string]any{"comment": `scp stream refused: file name "../evil" holds '/' or NUL`}},
		{"more data", `printf 'C0644 5 more\n0123456789\000'; sleep 5`, "scp.refused",
			map[string]any{"comment": "scp stream refused: more data than the size the file announced"}},
		{"cut", `printf 'C0644 1000 half\n0123456789'; exit 1`, "scp.file",
			map[string]any{"path": "half", "status": "failed", "bytes_read": "10", "comment": "transfer ended before the file's end"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sshd := lyingTarget(t, j, c.script)
			parent := t.TempDir()
			dir := filepath.Join(parent, "in")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			before := countAudit(t, j.b, "connection.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(sshd.Port)})
			_, errs, code := j.run(t, "", "scp", "-O", "-F", j.cfg, "-P", fmt.Sprint(sshd.Port), sshd.User+"@127.0.0.1:/srv/x", dir+"/")
			if code == 0 {
				t.Fatalf("scp -O from a lying target ended well: %q", errs)
			}
			want := map[string]any{"account": "alice", "port_to": fmt.Sprint(sshd.Port)}
			for k, v := range c.want {
				want[k] = v
			}
			waitAudit(t, j.b, c.event, want)
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Fatalf("written beside the client's directory: %v", entries)
			}
			if fi, err := os.Stat(filepath.Join(dir, "more")); err == nil && fi.Size() > 5 {
				t.Fatalf("the client got %d bytes of a 5-byte file", fi.Size())
			}
			waitAuditCount(t, j.b, "connection.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(sshd.Port)}, before+1)
		})
	}
}

// sftpConn is `ssh … -s sftp` spoken raw: the test sends packets and reads the replies.
type sftpConn struct {
	t    *testing.T
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  io.Reader
	errb bytes.Buffer
}

func sftpDial(t *testing.T, args []string) *sftpConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c := &sftpConn{t: t, cmd: exec.CommandContext(ctx, "ssh", append(append([]string{}, args[:len(args)-1]...), "-s", args[len(args)-1], "sftp")...)}
	var err error
	if c.in, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if c.out, err = c.cmd.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = &c.errb
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// send writes packets in one write (one channel packet: the audit sees them together).
func (c *sftpConn) send(packets ...[]byte) {
	_, _ = c.in.Write(bytes.Join(packets, nil)) // a refused stream ends the session: the replies tell
}

// recv reads one reply (type and body), or nil when the session ended.
func (c *sftpConn) recv() []byte {
	var n [4]byte
	if _, err := io.ReadFull(c.out, n[:]); err != nil {
		return nil
	}
	body := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c.out, body); err != nil {
		return nil
	}
	return body
}

// end closes stdin and returns ssh's exit code.
func (c *sftpConn) end() int {
	_ = c.in.Close()
	_, _ = io.Copy(io.Discard, c.out)
	err := c.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("ssh -s sftp: %v %s", err, c.errb.String())
	}
	return 0
}

// sftpRaw builds one SFTP packet of typ from fields: uint32, uint64, string.
func sftpRaw(typ byte, fields ...any) []byte {
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
		case []byte: // raw bytes, no length: a lie about a string's length is built with these
			body = append(body, v...)
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestSFTPWriteLies: a client speaking raw SFTP: writes at odd offsets (past 4 GiB, backwards,
// overlapping) on the handle the target gave go where they were asked (the target's user's
// rights) and are audited with their bytes and no hash (not a file read in order); writes
// pipelined on a GUESSED handle (OpenSSH's first is four zero bytes) before the target gave it,
// a request reusing the id of one still waiting, and a write whose data is shorter than its
// length says end the session before they reach the target (sftp.refused), nothing written; a
// path with ".." is audited as sent, never cleaned.
func TestSFTPWriteLies(t *testing.T) {
	j := startJump(t)
	const (
		fxpOpen, fxpClose, fxpWrite, fxpHandle = 3, 4, 6, 102
		flags                                  = 0x02 | 0x08 | 0x10 // write, create, truncate
	)
	guess := "\x00\x00\x00\x00"
	for _, way := range badInputWays(j) {
		t.Run(way.name, func(t *testing.T) {
			remote := t.TempDir()
			if err := os.Mkdir(filepath.Join(remote, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			// Odd offsets on the target's handle, and a path with "..".
			p := remote + "/sub/../odd"
			c := sftpDial(t, way.args)
			c.send(sftpRaw(1, uint32(3)), sftpRaw(fxpOpen, uint32(1), p, uint32(flags), uint32(0)))
			_ = c.recv() // version
			reply := c.recv()
			if len(reply) < 9 || reply[0] != fxpHandle {
				t.Fatalf("open: %q %s", reply, c.errb.String())
			}
			h := string(reply[9:])
			c.send(sftpRaw(fxpWrite, uint32(2), h, uint64(1<<32+3), "xyz"), sftpRaw(fxpWrite, uint32(3), h, uint64(7), "abc"),
				sftpRaw(fxpWrite, uint32(4), h, uint64(0), "0123456789"), sftpRaw(fxpClose, uint32(5), h))
			for i := 0; i < 4; i++ {
				if r := c.recv(); r == nil {
					t.Fatalf("reply %d missing: %s", i, c.errb.String())
				}
			}
			if code := c.end(); code != 0 {
				t.Fatalf("honest odd offsets: exit %d %s", code, c.errb.String())
			}
			f, err := os.Open(filepath.Join(remote, "odd")) // a sparse file of 4 GiB: read where written
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			head, tail := make([]byte, 10), make([]byte, 4)
			fi, _ := f.Stat()
			_, _ = f.ReadAt(head, 0)
			n, _ := f.ReadAt(tail, 1<<32+3)
			if fi.Size() != 1<<32+6 || string(head) != "0123456789" || string(tail[:n]) != "xyz" {
				t.Fatalf("the target's file: %d bytes, %q … %q", fi.Size(), head, tail[:n])
			}
			waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": p, "bytes_written": "16"})
			for _, e := range auditEntries(t, j.b, "sftp.close") {
				if auditCarries(e, map[string]any{"path": p}) && !auditCarries(e, map[string]any{"sha256_written": nil}) {
					t.Fatalf("out-of-order writes hashed as a file: %v", e)
				}
			}

			for _, lie := range []struct {
				name, file, comment string
				packets             func(file string) [][]byte
			}{
				{"guessed handle", "guessed", "a write on a handle the target did not give", func(file string) [][]byte {
					return [][]byte{sftpRaw(fxpOpen, uint32(1), file, uint32(flags), uint32(0)), sftpRaw(fxpWrite, uint32(2), guess, uint64(0), "unaudited")}
				}},
				{"reused id", "reused", "request id 1 is already waiting for its reply", func(file string) [][]byte {
					return [][]byte{sftpRaw(fxpOpen, uint32(1), file, uint32(flags), uint32(0)), sftpRaw(fxpOpen, uint32(1), remote+"/innocent", uint32(flags), uint32(0))}
				}},
				{"short data", "short", "a malformed write", func(file string) [][]byte {
					// The OPEN is answered first (so the handle is known); the write says 1000 bytes and carries 10.
					return nil
				}},
			} {
				file := filepath.Join(remote, lie.file)
				c := sftpDial(t, way.args)
				if lie.packets(file) != nil {
					c.send(append([][]byte{sftpRaw(1, uint32(3))}, lie.packets(file)...)...)
				} else {
					c.send(sftpRaw(1, uint32(3)), sftpRaw(fxpOpen, uint32(1), file, uint32(flags), uint32(0)))
					_ = c.recv()
					reply := c.recv()
					if len(reply) < 9 || reply[0] != fxpHandle {
						t.Fatalf("%s: open: %q", lie.name, reply)
					}
					c.send(sftpRaw(fxpWrite, uint32(2), string(reply[9:]), uint64(0), binary.BigEndian.AppendUint32(nil, 1000), []byte("0123456789")))
				}
				if code := c.end(); code == 0 {
					t.Fatalf("%s: the session went on", lie.name)
				}
				waitAudit(t, j.b, "sftp.refused", map[string]any{"account": "alice", "comment": lie.comment})
				if fi, err := os.Stat(file); err == nil && fi.Size() != 0 {
					t.Fatalf("%s: a refused write reached the target: %d bytes", lie.name, fi.Size())
				}
				if _, err := os.Stat(remote + "/innocent"); err == nil {
					t.Fatalf("%s: the second open with a reused id reached the target", lie.name)
				}
			}
		})
	}
	allClosed(t, j)
}

// TestTransferToHostNotCovered: protocol grants are per host and port: alice's --scpup/--sftp
// on one target do not cover a second target she has SSH access to; scp (both modes) and sftp
// to it are refused on both ways with the reason, audited transfer.denied, nothing written,
// while the same copy to the covered target arrives.
func TestTransferToHostNotCovered(t *testing.T) {
	j := startJump(t)
	other := extraTarget(t, j, nil)
	src := filepath.Join(j.dir, "covered.bin")
	data := randomFile(t, src, 4096)
	remote := t.TempDir()
	port := fmt.Sprint(other.Port)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"scp sftp mode, jump", []string{"scp", "-F", j.cfg, "-P", port, src, other.User + "@127.0.0.1:" + remote + "/a"}},
		{"scp -O, jump", []string{"scp", "-O", "-F", j.cfg, "-P", port, src, other.User + "@127.0.0.1:" + remote + "/b"}},
		{"scp, user name", []string{"scp", "-F", j.cfg, "-o", "User=alice:" + other.User + "@127.0.0.1:" + port, src, "bastion:" + remote + "/c"}},
	} {
		_, errs, code := j.run(t, "", c.args[0], c.args[1:]...)
		if code == 0 || !strings.Contains(errs, "grant") {
			t.Errorf("%s: exit %d %q", c.name, code, errs)
		}
	}
	waitAudit(t, j.b, "transfer.denied", map[string]any{"account": "alice", "port_to": port, "protocol": "sftp"})
	waitAudit(t, j.b, "transfer.denied", map[string]any{"account": "alice", "port_to": port, "protocol": "scpup"})
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("written on a target the grant does not cover: %v", entries)
	}
	if _, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-P", fmt.Sprint(j.sshd.Port), src, j.target()+":"+remote+"/ok"); code != 0 {
		t.Fatalf("the covered target: %q", errs)
	}
	sameFile(t, filepath.Join(remote, "ok"), data)
}
