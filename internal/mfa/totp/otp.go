// Package totp implements the one-time-password factor: HOTP (RFC 4226) and TOTP (RFC 6238) codes,
// secrets and otpauth:// URIs, a terminal QR code, single-use scratch codes, import of an existing
// ~/.google_authenticator file, and a Verifier that refuses replays.
//
// Invariants:
//   - A code is compared in constant time against every candidate step of the window, so the time
//     taken does not tell which step matched.
//   - A code is accepted only if StepStore.Advance moves the account's last accepted step forward;
//     the compare-and-set lives in the store so that two concurrent logins with the same code
//     cannot both win (RFC 6238 §5.2). Any store error refuses the code.
//   - Scratch codes are kept only as keyed hashes and are consumed by an atomic delete.
//
// Nothing in this package logs or returns a secret except the enrolment helpers, whose output is
// meant to be shown once to the account owner.
package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
)

// Algorithm is the HMAC hash of an OTP key.
type Algorithm int

const (
	SHA1 Algorithm = iota // the default, and the only one every authenticator app supports
	SHA256
	SHA512
)

// String returns the name used in otpauth:// URIs.
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm accepts SHA1, SHA256 or SHA512 (case-insensitive).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(s) {
	case "SHA1", "":
		return SHA1, nil
	case "SHA256":
		return SHA256, nil
	case "SHA512":
		return SHA512, nil
	}
	return 0, fmt.Errorf("totp: unknown algorithm %q: use SHA1, SHA256 or SHA512", s)
}

func (a Algorithm) hash() (func() hash.Hash, error) {
	switch a {
	case SHA1:
		return sha1.New, nil
	case SHA256:
		return sha256.New, nil
	case SHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("totp: unknown algorithm %d", int(a))
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// HOTP returns the RFC 4226 code of counter for secret, with digits digits (6 to 8).
func HOTP(secret []byte, counter uint64, alg Algorithm, digits int) (string, error) {
	if digits < 6 || digits > 8 {
		return "", fmt.Errorf("totp: %d digits: use 6, 7 or 8", digits)
	}
	h, err := alg.hash()
	if err != nil {
		return "", err
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(h, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	p := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", digits, p%pow10[digits]), nil
}

// Step returns the TOTP time step of unix time t for a period in seconds (T0 = 0).
// Times before the epoch map to negative steps, which no verifier accepts.
func Step(unix int64, period int64) int64 {
	if period <= 0 {
		period = 30
	}
	if unix < 0 {
		return -1
	}
	return unix / period
}
