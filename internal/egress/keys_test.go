package egress

import (
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		algo   string
		size   int
		family string
		bits   int
		prefix string
	}{
		{"", 0, "ED25519", 256, "ssh-ed25519 "},
		{"ed25519", 256, "ED25519", 256, "ssh-ed25519 "},
		{"ecdsa", 256, "ECDSA", 256, "ecdsa-sha2-nistp256 "},
		{"ecdsa", 384, "ECDSA", 384, "ecdsa-sha2-nistp384 "},
		{"ecdsa", 521, "ECDSA", 521, "ecdsa-sha2-nistp521 "},
		{"rsa", 2048, "RSA", 2048, "ssh-rsa "},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		g, err := GenerateKey(rand.Reader, tc.algo, tc.size, "gatehouse:alice")
		if err != nil {
			t.Fatalf("%s-%d: %v", tc.algo, tc.size, err)
		}
		if g.Family != tc.family || g.Size != tc.bits || !strings.HasPrefix(g.AuthorizedKey, tc.prefix) || !strings.HasSuffix(g.AuthorizedKey, " gatehouse:alice") {
			t.Errorf("%s-%d: %+v", tc.algo, tc.size, g)
		}
		if !strings.HasPrefix(string(g.PrivatePEM), "-----BEGIN OPENSSH PRIVATE KEY-----") {
			t.Errorf("%s: private key is not in OpenSSH format", tc.algo)
		}
		s, err := ParseSigner(g.PrivatePEM)
		if err != nil || string(s.PublicKey().Marshal()) != string(g.PublicKey.Marshal()) {
			t.Fatalf("%s: private key does not round-trip: %v", tc.algo, err)
		}
		if f, b := KeyInfo(g.PublicKey); f != tc.family || b != tc.bits {
			t.Errorf("KeyInfo = %s-%d, want %s-%d", f, b, tc.family, tc.bits)
		}
		// OpenSSH itself must read both halves and agree on the fingerprint.
		p := filepath.Join(dir, "k")
		if err := os.WriteFile(p, g.PrivatePEM, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ssh-keygen", "-y", "-f", p).Output()
		if err != nil || !strings.HasPrefix(g.AuthorizedKey, strings.TrimSpace(string(out))) {
			t.Fatalf("%s: ssh-keygen -y gives %q (%v), want the prefix of %q", tc.algo, out, err, g.AuthorizedKey)
		}
		if err := os.WriteFile(p+".pub", []byte(g.AuthorizedKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command("ssh-keygen", "-l", "-f", p+".pub").Output()
		if err != nil || !strings.Contains(string(out), g.Fingerprint) {
			t.Fatalf("%s: ssh-keygen -l gives %q (%v), want %s", tc.algo, out, err, g.Fingerprint)
		}
	}
	for _, bad := range []struct {
		algo string
		size int
	}{{"ed25519", 512}, {"ecdsa", 512}, {"rsa", 1024}, {"rsa", 16384}, {"rsa", 2049}, {"dsa", 1024}} {
		if _, err := GenerateKey(rand.Reader, bad.algo, bad.size, ""); err == nil {
			t.Errorf("%s-%d accepted", bad.algo, bad.size)
		}
	}
}

func TestAuthorizedKeyWithFrom(t *testing.T) {
	g, err := GenerateKey(rand.Reader, "", 0, "c")
	if err != nil {
		t.Fatal(err)
	}
	line, err := AuthorizedKeyWithFrom(g.AuthorizedKey, []string{"192.0.2.10", "198.51.100.0/24", "2001:db8::/32", "*.bastion.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `from="192.0.2.10,198.51.100.0/24,2001:db8::/32,*.bastion.example.org" ` + g.AuthorizedKey; line != want {
		t.Fatalf("got %q\nwant %q", line, want)
	}
	// sshd must parse it back with the option.
	pub, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || len(opts) != 1 || string(pub.Marshal()) != string(g.PublicKey.Marshal()) {
		t.Fatalf("ParseAuthorizedKey: %v %v", opts, err)
	}
	if same, _ := AuthorizedKeyWithFrom(g.AuthorizedKey, nil); same != g.AuthorizedKey {
		t.Fatalf("no from list must leave the line alone")
	}
	for _, bad := range []string{`1.2.3.4" ,command="sh`, "a,b", "a b", ""} {
		if _, err := AuthorizedKeyWithFrom(g.AuthorizedKey, []string{bad}); err == nil {
			t.Errorf("from entry %q accepted", bad)
		}
	}
}
