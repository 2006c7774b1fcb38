package config

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestAlgorithmsConfig: kexAlgorithms, MACs and hostKeyAlgorithms are read like ciphers and
// checked against what x/crypto implements, refusals naming the file and line.
func TestAlgorithmsConfig(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string // want: "" accepted, else a part of the error
	}{
		{"defaults", "", ""},
		{"kex nist added", "\nkexAlgorithms = [\"curve25519-sha256\", \"ecdh-sha2-nistp256\"]\n", ""},
		{"kex sha1 refused", "\nkexAlgorithms = [\"diffie-hellman-group14-sha1\"]\n", "g.toml:2: kexAlgorithms: \"diffie-hellman-group14-sha1\" is not a supported key exchange"},
		{"kex unknown", "bastionName = \"b\"\nkexAlgorithms = [\"sntrup761x25519-sha512\"]\n", "g.toml:2: kexAlgorithms"},
		{"kex empty", "kexAlgorithms = []\n", "g.toml:1: kexAlgorithms: at least one key exchange is needed"},
		{"kex twice", "kexAlgorithms = [\"curve25519-sha256\", \"curve25519-sha256\"]\n", "listed twice"},
		{"mac non-etm added", "MACs = [\"hmac-sha2-256-etm@openssh.com\", \"hmac-sha2-256\"]\n", ""},
		{"mac sha1-96 refused", "\n\nMACs = [\"hmac-sha1-96\"]\n", "g.toml:3: MACs: \"hmac-sha1-96\" is not a supported MAC"},
		{"mac empty", "MACs = []\n", "at least one MAC"},
		{"mac case", "macs = [\"hmac-sha2-256-etm@openssh.com\"]\n", "did you mean \"MACs\""},
		{"hostkey ecdsa", "hostKeyAlgorithms = [\"ssh-ed25519\", \"ecdsa-sha2-nistp256\"]\n", ""},
		{"hostkey rsa refused", "hostKeyAlgorithms = [\"ssh-rsa\"]\n", "g.toml:1: hostKeyAlgorithms: \"ssh-rsa\" is not a supported host key algorithm"},
		{"hostkey empty", "hostKeyAlgorithms = []\n", "at least one host key algorithm"},
		{"cipher cbc refused", "ciphers = [\"aes128-cbc\"]\n", "g.toml:1: ciphers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("g.toml", []byte(tc.data))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestDefaultAlgorithmsModern: the defaults hold nothing x/crypto calls insecure, no SHA-1, no
// NIST curve, no encrypt-and-MAC, and only ciphers the OpenSSH client would pick GCM among.
func TestDefaultAlgorithmsModern(t *testing.T) {
	c := Default()
	insecure := ssh.InsecureAlgorithms()
	for _, l := range [][]string{c.KexAlgorithms, c.MACs, c.Ciphers, c.HostKeyAlgorithms} {
		for _, a := range l {
			if slices.Contains(insecure.KeyExchanges, a) || slices.Contains(insecure.MACs, a) || slices.Contains(insecure.Ciphers, a) || slices.Contains(insecure.HostKeys, a) {
				t.Errorf("default %q is insecure per x/crypto", a)
			}
			if strings.Contains(a, "sha1") || strings.Contains(a, "nistp") || strings.HasSuffix(a, "-ctr") || strings.Contains(a, "chacha") {
				t.Errorf("default %q: want none of sha1, NIST curves, CTR or chacha20 by default", a)
			}
		}
	}
	for _, m := range c.MACs {
		if !strings.Contains(m, "-etm@") {
			t.Errorf("default MAC %q is not encrypt-then-MAC", m)
		}
	}
}
