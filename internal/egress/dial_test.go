package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func dialErr(t *testing.T, err error, want Reason) *DialError {
	t.Helper()
	var de *DialError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DialError", err, err)
	}
	if de.Reason != want {
		t.Fatalf("reason = %s, want %s (error: %v)", de.Reason, want, err)
	}
	return de
}

func TestDialTriesEveryKey(t *testing.T) {
	tg := newTarget(t)
	wrong1, wrong2, right := newSigner(t), newSigner(t), newSigner(t)
	tg.allow(right.PublicKey())
	c, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{wrong1, wrong2, right}, HostKeyPolicy{Account: "a", Store: &MemoryKnownHosts{}})
	if err != nil {
		t.Fatalf("the third key should have been accepted: %v", err)
	}
	c.Close()
}

func TestDialAuthRefused(t *testing.T) {
	tg := newTarget(t)
	_, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{newSigner(t)}, HostKeyPolicy{Account: "a", Store: &MemoryKnownHosts{}})
	de := dialErr(t, err, ReasonAuth)
	if want := "root@127.0.0.1: Permission denied (publickey)."; de.Error() != want {
		t.Fatalf("message = %q, want %q", de.Error(), want)
	}
}

func TestDialRefusedAndNoKeys(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tgt := Target{User: "root", Host: "127.0.0.1", Port: port}
	_, err = Dial(t.Context(), tgt, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
	de := dialErr(t, err, ReasonRefused)
	if !strings.Contains(de.Error(), "connect to host 127.0.0.1 port "+strconv.Itoa(port)+": Connection refused") {
		t.Fatalf("message = %q", de.Error())
	}
	_, err = Dial(t.Context(), tgt, nil, HostKeyPolicy{Mode: HostKeyBypass})
	dialErr(t, err, ReasonNoKeys)
	_, err = Dial(t.Context(), Target{Host: "127.0.0.1"}, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
	dialErr(t, err, ReasonInvalidArgument)
}

func TestDialDNS(t *testing.T) {
	_, err := Dial(t.Context(), Target{User: "root", Host: "no-such-host.invalid", Port: 22}, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
	de := dialErr(t, err, ReasonDNS)
	if !strings.Contains(de.Error(), "Could not resolve hostname no-such-host.invalid") {
		t.Fatalf("message = %q", de.Error())
	}
}

// rawServer accepts TCP connections and runs behave on each, until the test ends.
func rawServer(t *testing.T, behave func(net.Conn)) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); behave(c) }()
		}
	}()
	return Target{User: "root", Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
}

// TestDialHostileTargets: a target that never answers, one that drips a
// banner forever and one that sends 100 MB of banner must each fail within
// the handshake timeout, and leave no goroutine behind.
func TestDialHostileTargets(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	drip := rawServer(t, func(c net.Conn) {
		for {
			if _, err := c.Write([]byte("x\r\n")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	flood := rawServer(t, func(c net.Conn) {
		line := []byte(strings.Repeat("A", 1<<20))
		for i := 0; i < 100; i++ { // 100 MiB without a newline
			if _, err := c.Write(line); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c)
	})
	floodLines := rawServer(t, func(c net.Conn) {
		line := []byte(strings.Repeat("B", 200) + "\r\n")
		for i := 0; i < 500000; i++ { // ~100 MB of short pre-version lines
			if _, err := c.Write(line); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c)
	})
	d := Dialer{HandshakeTimeout: 700 * time.Millisecond}
	for name, tc := range map[string]struct {
		target Target
		want   []Reason
	}{
		"never answers":         {silent, []Reason{ReasonTimeout}},
		"drips a banner":        {drip, []Reason{ReasonTimeout, ReasonProtocol}},
		"100 MB banner":         {flood, []Reason{ReasonProtocol}},
		"100 MB of short lines": {floodLines, []Reason{ReasonProtocol, ReasonTimeout}}, // timeout when slow (-race)
	} {
		t.Run(name, func(t *testing.T) {
			checkGoroutines(t, func() {
				start := time.Now()
				_, err := d.Dial(t.Context(), tc.target, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
				took := time.Since(start)
				var de *DialError
				if !errors.As(err, &de) {
					t.Fatalf("want a DialError, got %v", err)
				}
				ok := false
				for _, r := range tc.want {
					ok = ok || de.Reason == r
				}
				if !ok {
					t.Fatalf("reason %s (%v), want one of %v", de.Reason, err, tc.want)
				}
				if took > 2*time.Second {
					t.Fatalf("took %s, want within the 700ms handshake timeout", took)
				}
				if !strings.Contains(de.Error(), "127.0.0.1") {
					t.Fatalf("message does not name the target: %q", de.Error())
				}
			})
		})
	}
}

func TestDialContextCancel(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	checkGoroutines(t, func() {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := Dial(ctx, silent, []ssh.Signer{newSigner(t)}, HostKeyPolicy{Mode: HostKeyBypass})
		dialErr(t, err, ReasonCanceled)
		if time.Since(start) > time.Second {
			t.Fatalf("cancel took %s", time.Since(start))
		}
	})
}

func TestHostKeyPolicies(t *testing.T) {
	tg := newTarget(t)
	s := newSigner(t)
	tg.allow(s.PublicKey())
	hostport := tg.ln.Addr().String()
	hostport = "[" + strings.Replace(hostport, ":", "]:", 1)

	type result struct {
		reason Reason // "" = success
		events []HostKeyEventKind
	}
	dial := func(kh KnownHosts, mode HostKeyMode, account string) result {
		var r result
		c, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{s}, HostKeyPolicy{Mode: mode, Account: account, Store: kh,
			OnEvent: func(ev HostKeyEvent) {
				if ev.HostPort != hostport || ev.Account != account || !strings.HasPrefix(ev.Fingerprint, "SHA256:") {
					t.Errorf("bad event %+v (want hostport %s)", ev, hostport)
				}
				r.events = append(r.events, ev.Kind)
			}})
		if err != nil {
			var de *DialError
			errors.As(err, &de)
			r.reason = de.Reason
			return r
		}
		c.Close()
		return r
	}
	same := func(a []HostKeyEventKind, b ...HostKeyEventKind) bool {
		return strings.Join(kinds(a), ",") == strings.Join(kinds(b), ",")
	}

	kh := &MemoryKnownHosts{}
	// yes: unknown host refused, nothing recorded.
	if r := dial(kh, HostKeyYes, "alice"); r.reason != ReasonHostKeyUnknown || !same(r.events, HostKeyUnknownRefused) {
		t.Fatalf("yes/unknown: %+v", r)
	}
	if keys, _ := kh.Lookup(t.Context(), "alice", hostport); len(keys) != 0 {
		t.Fatalf("yes recorded a key")
	}
	// accept-new (zero Mode): learned, then matched.
	if r := dial(kh, "", "alice"); r.reason != "" || !same(r.events, HostKeyLearned) {
		t.Fatalf("accept-new/first: %+v", r)
	}
	if r := dial(kh, HostKeyYes, "alice"); r.reason != "" || !same(r.events, HostKeyMatched) {
		t.Fatalf("yes/known: %+v", r)
	}
	// Known hosts are per account.
	if r := dial(kh, HostKeyYes, "bob"); r.reason != ReasonHostKeyUnknown {
		t.Fatalf("bob must not see alice's keys: %+v", r)
	}

	// The target's host key changes.
	addr := tg.ln.Addr().String()
	tg.ln.Close()
	tg.conns.Wait()
	tg = startTarget(t, newSigner(t), addr)
	tg.allow(s.PublicKey())
	for _, mode := range []HostKeyMode{HostKeyAcceptNew, HostKeyYes} {
		r := dial(kh, mode, "alice")
		if r.reason != ReasonHostKeyChanged || !same(r.events, HostKeyChangedRefused) {
			t.Fatalf("%s/changed: %+v", mode, r)
		}
	}
	_, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{s}, HostKeyPolicy{Account: "alice", Store: kh})
	msg := err.Error()
	keys, _ := kh.Lookup(t.Context(), "alice", hostport)
	for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED", hostport, ssh.FingerprintSHA256(tg.hostKey.PublicKey()), ssh.FingerprintSHA256(keys[0])} {
		if !strings.Contains(msg, want) {
			t.Errorf("changed-key message lacks %q:\n%s", want, msg)
		}
	}
	// no: let through with a warning event, the recorded key is kept.
	if r := dial(kh, HostKeyNo, "alice"); r.reason != "" || !same(r.events, HostKeyChangedAccepted) {
		t.Fatalf("no/changed: %+v", r)
	}
	if keys, _ := kh.Lookup(t.Context(), "alice", hostport); len(keys) != 1 || ssh.FingerprintSHA256(keys[0]) == ssh.FingerprintSHA256(tg.hostKey.PublicKey()) {
		t.Fatalf("no replaced the recorded key")
	}
	// bypass: no lookup, no store needed.
	if r := dial(nil, HostKeyBypass, "alice"); r.reason != "" || !same(r.events, HostKeyBypassed) {
		t.Fatalf("bypass: %+v", r)
	}
	// Forgetting the key (selfForgetHostKey) lets accept-new learn the new one.
	kh.Forget("alice", hostport)
	if r := dial(kh, HostKeyAcceptNew, "alice"); r.reason != "" || !same(r.events, HostKeyLearned) {
		t.Fatalf("after forget: %+v", r)
	}
}

func kinds(k []HostKeyEventKind) []string {
	var out []string
	for _, x := range k {
		out = append(out, string(x))
	}
	return out
}

type failingStore struct{ lookupErr, addErr error }

func (f failingStore) Lookup(context.Context, string, string) ([]ssh.PublicKey, error) {
	return nil, f.lookupErr
}
func (f failingStore) Add(context.Context, string, string, ssh.PublicKey) error { return f.addErr }

func TestHostKeyStoreErrorsFailClosed(t *testing.T) {
	tg := newTarget(t)
	s := newSigner(t)
	tg.allow(s.PublicKey())
	for name, st := range map[string]KnownHosts{
		"lookup fails": failingStore{lookupErr: errors.New("db down")},
		"add fails":    failingStore{addErr: errors.New("disk full")},
		"no store":     nil,
	} {
		_, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{s}, HostKeyPolicy{Account: "a", Store: st})
		var de *DialError
		if !errors.As(err, &de) || de.Reason != ReasonHostKeyStore {
			t.Errorf("%s: got %v, want a hostkey_store refusal", name, err)
		}
	}
	if _, err := Dial(t.Context(), tg.Target("root"), []ssh.Signer{s}, HostKeyPolicy{Mode: "maybe", Store: &MemoryKnownHosts{}}); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestParseHostKeyMode(t *testing.T) {
	for in, want := range map[string]HostKeyMode{"": HostKeyAcceptNew, "default": HostKeyAcceptNew, "ask": HostKeyYes, "yes": HostKeyYes, "no": HostKeyNo, "bypass": HostKeyBypass, "accept-new": HostKeyAcceptNew} {
		if got, err := ParseHostKeyMode(in); err != nil || got != want {
			t.Errorf("ParseHostKeyMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseHostKeyMode("sometimes"); err == nil {
		t.Error("junk accepted")
	}
}

// TestDialPasswordFallbackDelay: with passwords, each after the first is tried only after
// PasswordDelay (The Bastion's --fallback-password-delay), and the right one logs in.
func TestDialPasswordFallbackDelay(t *testing.T) {
	tg := newTarget(t)
	tg.password = "current"
	d := Dialer{Passwords: []string{"old-1", "old-2", "current"}, PasswordDelay: 300 * time.Millisecond}
	c, err := d.Dial(t.Context(), tg.Target("root"), nil, HostKeyPolicy{Mode: HostKeyBypass})
	if err != nil {
		t.Fatalf("the third password should have been accepted: %v", err)
	}
	c.Close()
	tg.mu.Lock()
	tries := append([]time.Time(nil), tg.tries...)
	tg.mu.Unlock()
	if len(tries) != 3 {
		t.Fatalf("%d password tries, want 3", len(tries))
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap < 300*time.Millisecond {
			t.Errorf("try %d came %v after the previous one, want at least the delay", i+1, gap)
		}
	}
	// A cancelled context stops the wait: no further try.
	tg.mu.Lock()
	tg.tries = nil
	tg.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	d = Dialer{Passwords: []string{"old-1", "current"}, PasswordDelay: time.Hour}
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	if _, err := d.Dial(ctx, tg.Target("root"), nil, HostKeyPolicy{Mode: HostKeyBypass}); err == nil {
		t.Fatal("a dial whose context ended during the delay logged in")
	}
}
