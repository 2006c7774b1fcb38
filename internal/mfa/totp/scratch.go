package totp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
)

// Scratch (emergency) codes: 8 digits, the first one non-zero, exactly as google-authenticator
// writes them, so that an imported file's codes keep working.
const (
	ScratchDigits       = 8
	DefaultScratchCount = 5
	scratchMin          = 10000000
	scratchSpan         = 90000000 // 10000000 … 99999999
)

// NewScratchCodes returns n fresh, distinct scratch codes.
func NewScratchCodes(n int) ([]string, error) {
	if n < 0 || n > 100 {
		return nil, fmt.Errorf("totp: %d scratch codes: use 0 to 100", n)
	}
	seen := make(map[string]bool, n)
	codes := make([]string, 0, n)
	for len(codes) < n {
		v, err := rand.Int(rand.Reader, big.NewInt(scratchSpan))
		if err != nil {
			return nil, fmt.Errorf("totp: reading random scratch code: %w", err)
		}
		c := fmt.Sprint(scratchMin + v.Int64())
		if !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	return codes, nil
}

// IsScratchCode reports whether code has the shape of a scratch code (8 digits, first 1–9).
// libpam tells scratch codes from 6-digit OTPs by this shape alone.
func IsScratchCode(code string) bool {
	return wellFormed(code, ScratchDigits) && code[0] != '0'
}

// ScratchHasher hashes scratch codes for storage with HMAC-SHA256 under a server-side key.
// A plain hash would not do: there are only 9·10⁷ codes, so anyone reading the table could
// recover them all in seconds; the key must live outside the database (sealed secrets).
type ScratchHasher struct {
	Key []byte // at least 16 bytes
}

// Hash returns the hex hash under which code is stored for account. The account name is part
// of the MAC so that equal codes of two accounts do not share a hash.
func (h ScratchHasher) Hash(account, code string) (string, error) {
	if len(h.Key) < 16 {
		return "", errors.New("totp: scratch hasher key shorter than 16 bytes: configure the sealed scratch key")
	}
	m := hmac.New(sha256.New, h.Key)
	m.Write([]byte(account))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// ScratchStore holds the hashes of each account's unused scratch codes.
//
// Consume must be atomic, e.g. `DELETE FROM scratch WHERE account=? AND hash=?` and report
// whether exactly one row went away, so that two logins racing with the same code cannot both
// succeed.
type ScratchStore interface {
	Consume(ctx context.Context, account, hash string) (bool, error)
}

// MemScratchStore is an in-memory ScratchStore.
type MemScratchStore struct {
	mu     sync.Mutex
	hashes map[string]map[string]bool
}

// Set replaces account's scratch code hashes.
func (m *MemScratchStore) Set(account string, hashes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hashes == nil {
		m.hashes = make(map[string]map[string]bool)
	}
	set := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		set[h] = true
	}
	m.hashes[account] = set
}

// Remaining returns how many unused codes account has.
func (m *MemScratchStore) Remaining(account string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.hashes[account])
}

// Consume implements ScratchStore.
func (m *MemScratchStore) Consume(_ context.Context, account, hash string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.hashes[account][hash] {
		return false, nil
	}
	delete(m.hashes[account], hash)
	return true, nil
}

// Scratch checks and consumes scratch codes.
type Scratch struct {
	Hasher ScratchHasher
	Store  ScratchStore
}

// HashAll hashes codes for storage (used at enrolment and import).
func (s Scratch) HashAll(account string, codes []string) ([]string, error) {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		h, err := s.Hasher.Hash(account, c)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// Consume accepts code once: nil if it was an unused scratch code of account (now used up),
// ErrInvalidCode if not, or another error (which also refuses).
func (s Scratch) Consume(ctx context.Context, account, code string) error {
	code = NormalizeCode(code)
	if !IsScratchCode(code) {
		return ErrInvalidCode
	}
	if s.Store == nil {
		return errors.New("totp: no scratch store configured")
	}
	h, err := s.Hasher.Hash(account, code)
	if err != nil {
		return err
	}
	ok, err := s.Store.Consume(ctx, account, h)
	if err != nil {
		return fmt.Errorf("totp: consuming scratch code of %s: %w", account, err)
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}
