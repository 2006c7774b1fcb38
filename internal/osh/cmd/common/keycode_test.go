package common

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestKeyErrorCode(t *testing.T) {
	line := func(k any) string {
		pub, err := ssh.NewPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecLine := line(&ec.PublicKey)
	for _, tc := range []struct{ line, want string }{
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "KO_PRIVATE_KEY"},
		{"-----BEGIN RSA PRIVATE KEY-----", "KO_PRIVATE_KEY"},
		{"bogus", "KO_NOT_A_KEY"},
		{"", "KO_NOT_A_KEY"},
		{"ssh-ed25519 AAAA", "KO_NOT_A_KEY"},
		{line(&weak.PublicKey), "KO_KEY_SIZE_TOO_SMALL"},
		{`no-touch-required ` + ecLine, "ERR_INVALID_PARAMETER"},
		{`from="" ` + ecLine, "ERR_INVALID_PARAMETER"},
	} {
		if got := KeyErrorCode(tc.line); got != tc.want {
			t.Errorf("KeyErrorCode(%.40q) = %s, want %s", tc.line, got, tc.want)
		}
	}
}
