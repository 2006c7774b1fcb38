// Package seal encrypts secrets at rest (egress private keys, TOTP secrets, webhook signing secrets)
// with AES-256-GCM under one key that lives in the data directory (seal.key, 0600) or in the
// GATEHOUSE_SEAL_KEY environment variable (64 hex characters).
//
// A sealed value is: version byte 1 || 12-byte random nonce || ciphertext+tag. The purpose string
// is bound as additional data, so a value sealed for one use cannot be opened as another.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Sealer seals and opens secrets. The zero value is not usable; use New or LoadOrCreate.
type Sealer struct {
	aead cipher.AEAD
}

// PurposeEgressKey binds sealed egress private keys to their use (the relay opens them, the
// key commands seal them).
const PurposeEgressKey = "egress-private-key"

// New returns a Sealer over a 32-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("seal: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// LoadOrCreate reads the key from $GATEHOUSE_SEAL_KEY, else from dir/seal.key, creating that file
// with a fresh random key (0600) when it does not exist.
func LoadOrCreate(dir string) (*Sealer, error) {
	if env := strings.TrimSpace(os.Getenv("GATEHOUSE_SEAL_KEY")); env != "" {
		key, err := hex.DecodeString(env)
		if err != nil || len(key) != 32 {
			return nil, errors.New("seal: GATEHOUSE_SEAL_KEY must be 64 hex characters (32 bytes)")
		}
		return New(key)
	}
	path := filepath.Join(dir, "seal.key")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("seal: create %s: %w", path, err)
		}
		_, werr := f.Write([]byte(hex.EncodeToString(key) + "\n"))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("seal: write %s: %w", path, werr)
		}
		return New(key)
	}
	if err != nil {
		return nil, fmt.Errorf("seal: read %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("seal: %s must hold 64 hex characters", path)
	}
	return New(key)
}

// Seal encrypts plaintext for the given purpose.
func (s *Sealer) Seal(purpose string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{1}, nonce...)
	return s.aead.Seal(out, nonce, plaintext, []byte(purpose)), nil
}

// Open decrypts a value sealed for the same purpose; any tampering is an error.
func (s *Sealer) Open(purpose string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != 1 {
		return nil, errors.New("seal: value is not a sealed secret (wrong version or too short)")
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return nil, errors.New("seal: cannot open secret: wrong seal key or tampered value")
	}
	return pt, nil
}
