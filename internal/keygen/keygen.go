// Package keygen makes the key pairs gatehouse uses to reach targets (egress keys).
package keygen

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Pair is a fresh key pair: the private half in OpenSSH PEM form, the public half as a line.
type Pair struct {
	PrivatePEM  []byte
	Public      ssh.PublicKey
	Line        string // "type base64"
	Type        string
	Bits        int
	Fingerprint string
}

// Check validates an algorithm and size; size 0 picks the algorithm's default.
func Check(algo string, size int) (int, error) {
	switch algo {
	case "ed25519":
		if size != 0 && size != 256 {
			return 0, fmt.Errorf("ed25519 keys have 256 bits; do not give another --size")
		}
		return 256, nil
	case "ecdsa":
		switch size {
		case 0:
			return 521, nil
		case 256, 384, 521:
			return size, nil
		}
		return 0, fmt.Errorf("ecdsa --size must be 256, 384 or 521")
	case "rsa":
		switch {
		case size == 0:
			return 4096, nil
		case size < 2048 || size > 8192:
			return 0, fmt.Errorf("rsa --size must be between 2048 and 8192")
		}
		return size, nil
	}
	return 0, fmt.Errorf("algorithm %q is not supported: use ed25519, ecdsa or rsa", algo)
}

// Generate makes a key pair; comment goes into the private key file.
func Generate(algo string, size int, comment string) (Pair, error) {
	size, err := Check(algo, size)
	if err != nil {
		return Pair{}, err
	}
	var priv crypto.Signer
	switch algo {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Pair{}, err
		}
		priv = k
	case "ecdsa":
		curve := map[int]elliptic.Curve{256: elliptic.P256(), 384: elliptic.P384(), 521: elliptic.P521()}[size]
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return Pair{}, err
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return Pair{}, err
		}
		priv = k
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return Pair{}, fmt.Errorf("encode private key: %w", err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		PrivatePEM:  pem.EncodeToMemory(block),
		Public:      pub,
		Line:        strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Type:        pub.Type(),
		Bits:        size,
		Fingerprint: ssh.FingerprintSHA256(pub),
	}, nil
}

// WithFrom prefixes a public key line with from="…" when the bastion's egress addresses are set,
// so a target only accepts the key from the bastion.
func WithFrom(line string, from []string) string {
	if len(from) == 0 {
		return line
	}
	return `from="` + strings.Join(from, ",") + `" ` + line
}
