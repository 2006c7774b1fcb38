// Package password implements the password factor: argon2id hashes in the PHC string format,
// temporary passwords for the enrolment flow, and shadow(5)-style ageing (MFAPasswordMinDays,
// MaxDays, WarnDays, InactiveDays) as pure functions of the last change date and the clock.
//
// Invariants: a password is compared only through argon2id and subtle.ConstantTimeCompare; a hash
// that does not parse, or whose parameters are outside sane bounds, verifies as an error (never
// as a match); nothing here logs.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// MaxLength is the longest password accepted, in bytes. Longer answers are refused before any
// hashing so that a 10 kB answer costs nothing.
const MaxLength = 1024

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes; changes the output
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams is OWASP's minimum for argon2id (m = 19 MiB, t = 2, p = 1): about 20–30 ms of
// one core per verification, paid once per password prompt and only after the public key has
// been verified. RFC 9106's "second recommended" (64 MiB, t = 3, p = 4) triples that.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read back from a stored hash, so that a corrupt or hostile row cannot make
// a verification allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 64
	maxThreads = 64
)

var b64 = base64.RawStdEncoding

// ErrMalformedHash is returned when a stored hash cannot be parsed; treat it as a refusal and
// ask an admin to reset the password (accountMFAResetPassword).
var ErrMalformedHash = errors.New("password: stored hash is not a valid $argon2id$ PHC string")

// Hash returns the PHC string $argon2id$v=19$m=…,t=…,p=…$salt$hash of password.
func Hash(password string, p Params) (string, error) {
	if len(password) > MaxLength {
		return "", fmt.Errorf("password: longer than %d bytes", MaxLength)
	}
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func (p Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("password: argon2id t=%d out of range 1–%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("password: argon2id p=%d out of range 1–%d", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("password: argon2id m=%d KiB out of range %d–%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fmt.Errorf("password: salt length %d out of range 8–64", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 128:
		return fmt.Errorf("password: key length %d out of range 16–128", p.KeyLen)
	}
	return nil
}

type parsed struct {
	p         Params
	salt, key []byte
}

func parse(encoded string) (parsed, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return parsed{}, ErrMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return parsed{}, ErrMalformedHash
	}
	var out parsed
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &out.p.Memory, &out.p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", out.p.Memory, out.p.Time, threads) != parts[3] || threads > maxThreads {
		return parsed{}, ErrMalformedHash
	}
	out.p.Threads = uint8(threads)
	var err error
	if out.salt, err = b64.DecodeString(parts[4]); err != nil {
		return parsed{}, ErrMalformedHash
	}
	if out.key, err = b64.DecodeString(parts[5]); err != nil {
		return parsed{}, ErrMalformedHash
	}
	out.p.SaltLen, out.p.KeyLen = uint32(len(out.salt)), uint32(len(out.key))
	if out.p.check() != nil {
		return parsed{}, ErrMalformedHash
	}
	return out, nil
}

// Verify reports whether password matches encoded. A malformed hash is an error, never a match.
func Verify(password, encoded string) (bool, error) {
	h, err := parse(encoded)
	if err != nil {
		return false, err
	}
	if len(password) > MaxLength {
		return false, nil
	}
	got := argon2.IDKey([]byte(password), h.salt, h.p.Time, h.p.Memory, h.p.Threads, h.p.KeyLen)
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters weaker than p (or does not
// parse), so that the caller re-hashes the password just verified and stores the new hash.
func NeedsRehash(encoded string, p Params) bool {
	h, err := parse(encoded)
	if err != nil {
		return true
	}
	return h.p.Memory < p.Memory || h.p.Time < p.Time || h.p.KeyLen < p.KeyLen || h.p.SaltLen < p.SaltLen
}

const tempAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TemporaryLength is the length of a temporary password: 16 characters of 6 bits = 96 bits.
const TemporaryLength = 16

// NewTemporary returns a temporary password for The Bastion's setup flow ("enter this: TMP"),
// drawn from [A-Za-z0-9_-] so that The Bastion's tests can grep it with `[a-zA-Z0-9_-]+`.
func NewTemporary() (string, error) {
	buf := make([]byte, TemporaryLength)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("password: reading random temporary password: %w", err)
	}
	for i, b := range buf {
		buf[i] = tempAlphabet[b&63] // 64 symbols: no modulo bias
	}
	return string(buf), nil
}

// TemporaryLine is the line The Bastion prints at the start of selfMFASetupPassword.
func TemporaryLine(tmp string) string {
	return "enter this: " + tmp
}
