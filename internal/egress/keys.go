package egress

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Key algorithms accepted by GenerateKey, with The Bastion's names
// (groupCreate --algo, selfGenerateEgressKey --algo).
const (
	AlgoEd25519 = "ed25519"
	AlgoECDSA   = "ecdsa"
	AlgoRSA     = "rsa"
)

// GeneratedKey is a fresh egress key pair. PrivatePEM is secret: seal it
// before storing, never log it.
type GeneratedKey struct {
	PrivatePEM    []byte        // OpenSSH "BEGIN OPENSSH PRIVATE KEY" format
	PublicKey     ssh.PublicKey // the public half
	AuthorizedKey string        // "ssh-ed25519 AAAA… comment", no trailing newline
	Fingerprint   string        // "SHA256:…"
	Family        string        // "ED25519", "ECDSA", "RSA", as The Bastion prints it
	Size          int           // bits
}

// GenerateKey makes a key pair. size is ignored for ed25519 (0 or 256 are
// accepted); ecdsa takes 256, 384 or 521; rsa takes 2048 to 8192 in steps of
// 8 bits. An empty algo means ed25519, the default. rand is usually
// crypto/rand.Reader.
func GenerateKey(rand io.Reader, algo string, size int, comment string) (GeneratedKey, error) {
	var priv crypto.Signer
	var family string
	var err error
	switch strings.ToLower(algo) {
	case "", AlgoEd25519:
		if size != 0 && size != 256 {
			return GeneratedKey{}, fmt.Errorf("ed25519 keys have a fixed size of 256 bits, got %d", size)
		}
		_, priv, err = ed25519.GenerateKey(rand)
		family, size = "ED25519", 256
	case AlgoECDSA:
		var curve elliptic.Curve
		switch size {
		case 256:
			curve = elliptic.P256()
		case 384:
			curve = elliptic.P384()
		case 521:
			curve = elliptic.P521()
		default:
			return GeneratedKey{}, fmt.Errorf("ecdsa key size must be 256, 384 or 521, got %d", size)
		}
		priv, err = ecdsa.GenerateKey(curve, rand)
		family = "ECDSA"
	case AlgoRSA:
		if size < 2048 || size > 8192 || size%8 != 0 {
			return GeneratedKey{}, fmt.Errorf("rsa key size must be between 2048 and 8192 (a multiple of 8), got %d", size)
		}
		priv, err = rsa.GenerateKey(rand, size)
		family = "RSA"
	default:
		return GeneratedKey{}, fmt.Errorf("unknown key algorithm %q: use ed25519, ecdsa or rsa", algo)
	}
	if err != nil {
		return GeneratedKey{}, fmt.Errorf("generate %s key: %w", algo, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return GeneratedKey{}, fmt.Errorf("encode private key: %w", err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return GeneratedKey{}, fmt.Errorf("encode public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return GeneratedKey{
		PrivatePEM:    pem.EncodeToMemory(block),
		PublicKey:     pub,
		AuthorizedKey: line,
		Fingerprint:   ssh.FingerprintSHA256(pub),
		Family:        family,
		Size:          size,
	}, nil
}

// ParseSigner loads a private key produced by GenerateKey (or any
// unencrypted OpenSSH/PEM private key) for Dial.
func ParseSigner(privatePEM []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(privatePEM)
	if err != nil {
		return nil, fmt.Errorf("parse egress private key: %w", err)
	}
	return s, nil
}

// KeyInfo returns The Bastion's family name and size in bits of pub
// ("ED25519", 256), for listing keys.
func KeyInfo(pub ssh.PublicKey) (family string, size int) {
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return strings.ToUpper(pub.Type()), 0
	}
	switch k := cpk.CryptoPublicKey().(type) {
	case ed25519.PublicKey:
		return "ED25519", 256
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	}
	return strings.ToUpper(pub.Type()), 0
}

var fromHostPattern = regexp.MustCompile(`^!?[a-zA-Z0-9.*?-]+$`)

// AuthorizedKeyWithFrom formats an authorized_keys line for a target, with
// the from="…" restriction built from the bastion's egressKeysFrom list (its
// own addresses), so the key is useless from anywhere else. Entries may be
// IPs, CIDR prefixes, or sshd patterns of host names (*, ?, leading !).
// Anything else is refused rather than written into the option, where a
// quote or a comma would change its meaning.
func AuthorizedKeyWithFrom(authorizedKey string, from []string) (string, error) {
	if len(from) == 0 {
		return authorizedKey, nil
	}
	for _, f := range from {
		if _, err := netip.ParsePrefix(f); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(f); err == nil {
			continue
		}
		if !fromHostPattern.MatchString(f) {
			return "", fmt.Errorf("invalid egressKeysFrom entry %q: use IPs, prefixes or host patterns", f)
		}
	}
	return fmt.Sprintf(`from="%s" %s`, strings.Join(from, ","), authorizedKey), nil
}
