package seal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealRoundTripAndTamper(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "seal.key"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("seal.key mode %v, want 0600", st.Mode().Perm())
	}
	secret := []byte("-----BEGIN OPENSSH PRIVATE KEY-----")
	box, err := s.Seal("egress-key", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(box, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := s.Open("egress-key", box)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("totp", box); err == nil {
		t.Fatal("opened a value sealed for another purpose")
	}
	box[len(box)-1] ^= 1
	if _, err := s.Open("egress-key", box); err == nil {
		t.Fatal("opened a tampered value")
	}
	// The same key comes back after a restart.
	s2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	box2, _ := s.Seal("x", secret)
	if got, err := s2.Open("x", box2); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("reloaded key cannot open: %v", err)
	}
}
