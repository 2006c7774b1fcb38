package mfa

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
)

// These tests put the Challenger behind a real x/crypto/ssh server on 127.0.0.1, the way the
// ingress will: publickey first, then keyboard-interactive through a PartialSuccessError. They
// check the adapter end to end and measure what the second factor adds to a login.

type sshRig struct {
	addr       string
	clientPriv ed25519.PrivateKey
	clientKey  ssh.Signer
	totpKey    totp.Key
	events     chan Event
	unix       atomic.Int64 // the server's clock, moved by the benchmark so each login has a fresh step
}

// code is the current TOTP code by the rig's clock.
func (r *sshRig) code() string {
	c, _ := totp.Code(r.totpKey, time.Unix(r.unix.Load(), 0))
	return c
}

func startSSH(tb testing.TB, withTOTP bool) *sshRig {
	tb.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, _ := ssh.NewSignerFromKey(hostPriv)
	_, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	clientSigner, _ := ssh.NewSignerFromKey(clientPriv)
	secret, _ := totp.NewSecret()
	r := &sshRig{clientPriv: clientPriv, clientKey: clientSigner, totpKey: totp.Key{Secret: secret}, events: make(chan Event, 64)}
	r.unix.Store(time.Now().Unix())

	ch := &Challenger{
		TOTP:    &totp.Verifier{Steps: &totp.MemStepStore{}, Now: func() time.Time { return time.Unix(r.unix.Load(), 0) }},
		Limiter: &limit.Limiter{Store: &limit.MemStore{}, Limits: limit.Limits{}}, // the benchmark logs in many times
		Observer: ObserverFunc(func(_ context.Context, e Event) {
			select {
			case r.events <- e:
			default: // the benchmark does not read events
			}
		}),
	}
	cred := Credentials{Account: "alice", TOTP: &r.totpKey}
	want := clientSigner.PublicKey().Marshal()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != "alice" || string(key.Marshal()) != string(want) {
				return nil, errors.New("unknown key")
			}
			return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(key)}}, nil
		},
		VerifiedPublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
			im := policy.ImmediateFactors(policy.Global{}, policy.Account{Name: c.User(), Configured: policy.TOTP})
			if !withTOTP || im.Factors == 0 {
				return perms, nil
			}
			fp := perms.Extensions["pubkey-fp"]
			return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
				KeyboardInteractiveCallback: func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
					res, err := ch.Challenge(context.Background(), KeyboardInteractive(client), cred, im.Factors)
					if err != nil {
						return nil, err
					}
					return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": fp, "mfa": res.Passed.String()}}, nil
				},
			}}
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	r.addr = ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveOne(c, cfg)
		}
	}()
	return r
}

// serveOne answers one exec request with "ok <mfa factors>".
func serveOne(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "")
			continue
		}
		chn, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range creqs {
			if req.Type != "exec" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			io.WriteString(chn, "ok mfa="+conn.Permissions.Extensions["mfa"]+"\n")
			chn.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			chn.Close()
		}
		return
	}
}

func (r *sshRig) login(answer func() string) (string, error) {
	cfg := &ssh.ClientConfig{
		User:            "alice",
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Auth: []ssh.AuthMethod{
			ssh.PublicKeys(r.clientKey),
			ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
				if len(questions) == 0 {
					return nil, nil
				}
				return []string{answer()}, nil
			}),
		},
		Timeout: 10 * time.Second,
	}
	c, err := ssh.Dial("tcp", r.addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	out, err := s.Output("true")
	return string(out), err
}

func TestSSHKeyboardInteractiveTOTP(t *testing.T) {
	r := startSSH(t, true)
	out, err := r.login(r.code)
	if err != nil || out != "ok mfa=totp\n" {
		t.Fatalf("login with key + TOTP: %q, %v", out, err)
	}
	if _, err := r.login(func() string { return "000000" }); err == nil {
		t.Fatal("login with a wrong code succeeded")
	}
	if _, err := r.login(func() string { return strings.Repeat("1", 10<<10) }); err == nil {
		t.Fatal("login with a 10 kB answer succeeded")
	}
}

// The real OpenSSH client answers keyboard-interactive through SSH_ASKPASS, with a code computed
// by oathtool: three independent implementations agree.
func TestOpenSSHClientWithOathtoolCode(t *testing.T) {
	r := startSSH(t, true)
	dir := t.TempDir()
	keyPEM, err := ssh.MarshalPrivateKey(r.clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	askpass := filepath.Join(dir, "askpass")
	script := "#!/bin/sh\nexec oathtool --totp -b " + totp.EncodeSecret(r.totpKey.Secret) + "\n"
	if err := os.WriteFile(askpass, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(r.addr)
	cmd := exec.Command("ssh", "-F", "/dev/null", "-i", keyFile, "-p", port,
		"-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "PreferredAuthentications=publickey,keyboard-interactive", "-o", "BatchMode=no",
		"-o", "ConnectTimeout=10", "-l", "alice", host, "true")
	cmd.Env = append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ssh: %v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	if string(out) != "ok mfa=totp\n" {
		t.Fatalf("output %q", out)
	}
	var sawPrompt, sawPass bool
	for len(r.events) > 0 {
		e := <-r.events
		sawPrompt = sawPrompt || e.Kind == EventPrompt
		sawPass = sawPass || e.Kind == EventPass
	}
	if !sawPrompt || !sawPass {
		t.Fatal("no prompt/pass events were observed")
	}
}

// BenchmarkLogin measures a whole login over loopback, from TCP connect to the first output of a
// command, with the key only and with the key then a TOTP code.
func BenchmarkLogin(b *testing.B) {
	for _, withTOTP := range []bool{false, true} {
		name := "key-only"
		if withTOTP {
			name = "key+totp"
		}
		b.Run(name, func(b *testing.B) {
			r := startSSH(b, withTOTP)
			for b.Loop() {
				r.unix.Add(30) // a fresh step per login: the replay check refuses a reused code
				out, err := r.login(r.code)
				if err != nil || !strings.HasPrefix(out, "ok") {
					b.Fatalf("login: %q %v", out, err)
				}
			}
		})
	}
}
