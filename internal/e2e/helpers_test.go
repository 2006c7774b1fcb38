package e2e

import (
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/ssh"
)

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func parsePub(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
