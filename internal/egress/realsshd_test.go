package egress

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshtest"
)

// realTarget starts OpenSSH's sshd and returns a target for its user and a
// signer it accepts (with a from="127.0.0.1" restriction, as egressKeysFrom
// would write it).
func realTarget(t *testing.T, opts sshtest.Options) (*sshtest.SSHD, Target, ssh.Signer) {
	t.Helper()
	s := sshtest.StartSSHDWith(t, opts)
	g, err := GenerateKey(rand.Reader, AlgoEd25519, 0, "gatehouse-test")
	if err != nil {
		t.Fatal(err)
	}
	line, err := AuthorizedKeyWithFrom(g.AuthorizedKey, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Authorize(t, line)
	signer, err := ParseSigner(g.PrivatePEM)
	if err != nil {
		t.Fatal(err)
	}
	return s, Target{User: s.User, Host: s.Host, Port: s.Port}, signer
}

func TestRealSSHD(t *testing.T) {
	s, tgt, signer := realTarget(t, sshtest.Options{})
	kh := &MemoryKnownHosts{}
	var events []HostKeyEvent
	c, err := Dial(t.Context(), tgt, []ssh.Signer{newSigner(t), signer}, HostKeyPolicy{Account: "alice", Store: kh, OnEvent: func(e HostKeyEvent) { events = append(events, e) }})
	if err != nil {
		t.Fatalf("dial real sshd: %v\n%s", err, s.Log())
	}
	defer c.Close()
	if len(events) != 1 || events[0].Kind != HostKeyLearned || events[0].Fingerprint != ssh.FingerprintSHA256(s.HostKey) ||
		events[0].HostPort != "[127.0.0.1]:"+strconv.Itoa(s.Port) {
		t.Fatalf("host key events %+v, want the sshd's key learned", events)
	}

	t.Run("exec", func(t *testing.T) {
		var out bytes.Buffer
		status, _, err := RunSession(t.Context(), c, Request{Command: "echo hello from sshd; exit 42"}, Streams{Stdout: &out})
		if err != nil || status != 42 || out.String() != "hello from sshd\n" {
			t.Fatalf("status %d err %v out %q", status, err, out.String())
		}
	})
	t.Run("stdin", func(t *testing.T) {
		var out bytes.Buffer
		in := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		status, _, err := RunSession(t.Context(), c, Request{Command: "wc -c"}, Streams{Stdin: bytes.NewReader(in), Stdout: &out})
		if err != nil || status != 0 || strings.TrimSpace(out.String()) != strconv.Itoa(len(in)) {
			t.Fatalf("status %d err %v out %q", status, err, out.String())
		}
	})
	t.Run("pty size", func(t *testing.T) {
		var out bytes.Buffer
		pty := &PtyRequest{Term: "xterm", Cols: 132, Rows: 43}
		status, _, err := RunSession(t.Context(), c, Request{Pty: pty, Command: "stty size; echo TERM=$TERM"}, Streams{Stdout: &out})
		if err != nil || status != 0 || !strings.Contains(out.String(), "43 132\r\n") || !strings.Contains(out.String(), "TERM=xterm\r\n") {
			t.Fatalf("status %d err %v out %q", status, err, out.String())
		}
	})
	t.Run("window change", func(t *testing.T) {
		out := &syncBuffer{}
		wc := make(chan WindowChange)
		go func() {
			out.waitFor(t, "ready")
			wc <- WindowChange{Cols: 200, Rows: 50}
		}()
		pty := &PtyRequest{Term: "xterm", Cols: 80, Rows: 24}
		cmd := `echo ready; while [ "$(stty size)" = "24 80" ]; do sleep 0.05; done; stty size`
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		status, _, err := RunSession(ctx, c, Request{Pty: pty, Command: cmd}, Streams{Stdout: out, WindowChanges: wc})
		if err != nil || status != 0 || !strings.Contains(out.String(), "50 200") {
			t.Fatalf("status %d err %v out %q", status, err, out.String())
		}
	})
	t.Run("signal", func(t *testing.T) {
		out := &syncBuffer{}
		sigs := make(chan string, 1)
		go func() {
			out.waitFor(t, "ready")
			sigs <- string(ssh.SIGKILL)
		}()
		if os.Geteuid() == 0 {
			// sshd runs a root login without its privilege-separated child
			// and then cannot deliver signals ("session signalling requires
			// privilege separation"): check that it got our request.
			status, _, err := RunSession(t.Context(), c, Request{Command: "echo ready; sleep 1"}, Streams{Stdout: out, Signals: sigs})
			if err != nil || status != 0 || !strings.Contains(s.Log(), "session_signal_req") {
				t.Fatalf("status %d err %v; sshd log lacks the signal request:\n%s", status, err, s.Log())
			}
			return
		}
		status, sig, err := RunSession(t.Context(), c, Request{Command: "echo ready; exec sleep 30"}, Streams{Stdout: out, Signals: sigs})
		if err != nil || sig != "KILL" || status != ExitStatus {
			t.Fatalf("status %d sig %q err %v, want exit-signal KILL", status, sig, err)
		}
	})

	// A second dial with "yes" trusts the recorded key.
	c2, err := Dial(t.Context(), tgt, []ssh.Signer{signer}, HostKeyPolicy{Mode: HostKeyYes, Account: "alice", Store: kh})
	if err != nil {
		t.Fatalf("strict dial with the learned key: %v", err)
	}
	c2.Close()
}

func TestRealSSHDRefusals(t *testing.T) {
	s, tgt, _ := realTarget(t, sshtest.Options{})
	_, err := Dial(t.Context(), tgt, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
	de := dialErr(t, err, ReasonAuth)
	if !strings.Contains(de.Error(), "Permission denied (publickey)") {
		t.Fatalf("message %q", de.Error())
	}

	// A key restricted to another source address is refused by sshd.
	g, _ := GenerateKey(rand.Reader, AlgoECDSA, 256, "")
	line, _ := AuthorizedKeyWithFrom(g.AuthorizedKey, []string{"192.0.2.1"})
	s.Authorize(t, line)
	signer, _ := ParseSigner(g.PrivatePEM)
	_, err = Dial(t.Context(), tgt, []ssh.Signer{signer}, HostKeyPolicy{Mode: HostKeyBypass})
	dialErr(t, err, ReasonAuth)

	// The sshd's host key is not the one recorded: refused.
	kh := &MemoryKnownHosts{}
	kh.Add(t.Context(), "alice", "[127.0.0.1]:"+strconv.Itoa(s.Port), newSigner(t).PublicKey())
	_, err = Dial(t.Context(), tgt, []ssh.Signer{signer}, HostKeyPolicy{Account: "alice", Store: kh})
	dialErr(t, err, ReasonHostKeyChanged)
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Event.Fingerprint != ssh.FingerprintSHA256(s.HostKey) {
		t.Fatalf("host key error %v", err)
	}
}
