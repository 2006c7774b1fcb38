package sshkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func authLine(t testing.TB, pub any) string {
	t.Helper()
	p, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p)))
}

// skEd25519Line builds an sk-ssh-ed25519@openssh.com line by hand (no FIDO device here).
func skEd25519Line(pub ed25519.PublicKey) string {
	b := ssh.Marshal(struct {
		Name        string
		KeyBytes    []byte
		Application string
	}{ssh.KeyAlgoSKED25519, pub, "ssh:"})
	return ssh.KeyAlgoSKED25519 + " " + encode(b) + " fido"
}

func encode(b []byte) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(mustParse(b))))[len(ssh.KeyAlgoSKED25519)+1:]
}

func mustParse(b []byte) ssh.PublicKey {
	k, err := ssh.ParsePublicKey(b)
	if err != nil {
		panic(err)
	}
	return k
}

func TestParse(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ed := authLine(t, edPub)
	for _, tc := range []struct {
		name, line, wantErr, wantType, wantFrom string
		bits                                    int
	}{
		{name: "ed25519", line: ed + " alice@laptop", wantType: "ssh-ed25519", bits: 256},
		{name: "ecdsa384", line: authLine(t, &ec.PublicKey), wantType: "ecdsa-sha2-nistp384", bits: 384},
		{name: "rsa2048", line: authLine(t, &rsa2048.PublicKey), wantType: "ssh-rsa", bits: 2048},
		{name: "rsa1024 refused", line: authLine(t, &rsa1024.PublicKey), wantErr: "too weak"},
		{name: "sk ed25519", line: skEd25519Line(edPub), wantType: ssh.KeyAlgoSKED25519, bits: 256},
		{name: "from", line: `from="10.0.0.0/8,!10.1.2.3" ` + ed, wantType: "ssh-ed25519", wantFrom: "10.0.0.0/8,!10.1.2.3", bits: 256},
		{name: "bad from", line: `from="10.0.0.0/99" ` + ed, wantErr: "not a valid prefix"},
		{name: "no-touch refused", line: `no-touch-required ` + skEd25519Line(edPub), wantErr: "no-touch-required"},
		{name: "command= refused", line: `command="/bin/sh" ` + ed, wantErr: "not supported"},
		{name: "garbage", line: "ssh-ed25519 AAAAnotbase64!!", wantErr: "does not parse"},
		{name: "empty", line: "  ", wantErr: "empty"},
		{name: "two keys", line: ed + "\n" + ed, wantErr: "one public key"},
		{name: "huge", line: "ssh-ed25519 " + strings.Repeat("A", 1<<20), wantErr: "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Type != tc.wantType || k.Bits != tc.bits || k.From != tc.wantFrom || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
				t.Fatalf("got %+v", k)
			}
			// The normalised line parses back to the same key.
			k2, err := Parse(k.Line)
			if err != nil || k2.Fingerprint != k.Fingerprint || k2.From != k.From {
				t.Fatalf("normalised line %q does not round-trip: %v", k.Line, err)
			}
		})
	}
}

func TestFromAllows(t *testing.T) {
	for _, tc := range []struct {
		list, ip string
		want     bool
	}{
		{"", "192.0.2.1", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"10.0.0.0/8", "10.9.9.9", true},
		{"10.0.0.0/8,!10.1.2.3", "10.1.2.3", false},
		{"!10.1.2.3,10.0.0.0/8", "10.1.2.3", false},
		{"127.0.0.*", "127.0.0.9", true},
		{"bastion.example.com", "127.0.0.1", false},
		{"::1", "::1", true},
	} {
		if got := FromAllows(tc.list, net.ParseIP(tc.ip)); got != tc.want {
			t.Errorf("FromAllows(%q, %s) = %v, want %v", tc.list, tc.ip, got, tc.want)
		}
	}
	if FromAllows("10.0.0.0/8", nil) {
		t.Error("a missing address must never match a restricted key")
	}
}

func FuzzParse(f *testing.F) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed := authLine(f, edPub)
	for _, s := range []string{ed, `from="10.0.0.0/8" ` + ed, skEd25519Line(edPub), "ssh-rsa AAAA", `from="" x`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		k, err := Parse(line)
		if err != nil {
			return
		}
		// Whatever was accepted is a permitted kind and re-parses to the same key.
		if !allowedTypes[k.Type] {
			t.Fatalf("accepted type %q", k.Type)
		}
		k2, err := Parse(k.Line)
		if err != nil || k2.Fingerprint != k.Fingerprint {
			t.Fatalf("accepted line does not round-trip: %q: %v", k.Line, err)
		}
	})
}
