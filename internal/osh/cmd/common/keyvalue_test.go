package common

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"io"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"

	"golang.org/x/crypto/ssh"
)

// The families are ssh-keygen -l's names, as The Bastion's key hash carries them.
func TestKeyFamily(t *testing.T) {
	for typ, want := range map[string]string{
		"ssh-ed25519": "ED25519", "ecdsa-sha2-nistp256": "ECDSA", "ecdsa-sha2-nistp384": "ECDSA",
		"ecdsa-sha2-nistp521": "ECDSA", "ssh-rsa": "RSA", "sk-ssh-ed25519@openssh.com": "ED25519-SK",
		"sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK", "ssh-dss": "DSA",
	} {
		if got := KeyFamily(typ); got != want {
			t.Errorf("KeyFamily(%q) = %q, want %q", typ, got, want)
		}
	}
}

// An ingress key's JSON has The Bastion's key hash fields gatehouse can fill: family, base64 and
// prefix (the options before the key), next to from_list.
func TestIngressKeysValueFields(t *testing.T) {
	pubRaw, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(pubRaw)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(pub.Marshal())
	for _, tc := range []struct {
		line, from, prefix string
		fromList           int
	}{
		{"ssh-ed25519 " + b64 + " me@laptop", "", "", 0},
		{`from="192.0.2.0/24,198.51.100.1" ssh-ed25519 ` + b64 + " me@laptop", "192.0.2.0/24,198.51.100.1", `from="192.0.2.0/24,198.51.100.1"`, 2},
	} {
		v := IngressKeysValue(&osh.Printer{W: io.Discard}, []store.IngressKey{{ID: 3, Line: tc.line, Type: "ssh-ed25519",
			Fingerprint: ssh.FingerprintSHA256(pub), Comment: "me@laptop", From: tc.from, CreatedAt: time.Unix(1700000000, 0)}})[0]
		if v["family"] != "ED25519" || v["base64"] != b64 || v["prefix"] != tc.prefix || v["size"] != 256 ||
			len(v["from_list"].([]string)) != tc.fromList {
			t.Errorf("%q: %v", tc.line, v)
		}
	}
}
