// Package sshkey parses and checks the public keys people log in with (ingress keys): which kinds
// are accepted, how strong they must be, and the from="…" restriction that binds a key to where it
// may be used from.
//
// Accepted kinds: ssh-ed25519, ecdsa-sha2-nistp{256,384,521}, ssh-rsa of 2048 bits or more, and the
// FIDO2 kinds sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com. For FIDO2 keys the
// user-presence flag is enforced by x/crypto/ssh's verification unless no-touch-required is set,
// which we refuse, so a touch is always needed.
package sshkey

import (
	"crypto/rsa"
	"fmt"
	"net"
	"path"
	"strings"

	"golang.org/x/crypto/ssh"
)

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// MaxLineLen bounds an authorized_keys line (an 16384-bit RSA key is under 3 kB).
const MaxLineLen = 8192

// Key is a parsed, accepted ingress key.
type Key struct {
	Public      ssh.PublicKey
	Type        string
	Bits        int
	Fingerprint string
	Comment     string
	From        string // the from="…" pattern list, "" when absent
	Line        string // normalised authorized_keys line: options, type, base64, comment
}

var allowedTypes = map[string]bool{
	ssh.KeyAlgoED25519:    true,
	ssh.KeyAlgoECDSA256:   true,
	ssh.KeyAlgoECDSA384:   true,
	ssh.KeyAlgoECDSA521:   true,
	ssh.KeyAlgoRSA:        true,
	ssh.KeyAlgoSKED25519:  true,
	ssh.KeyAlgoSKECDSA256: true,
}

// Parse parses one authorized_keys line and checks that gatehouse accepts it.
func Parse(line string) (Key, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return Key{}, fmt.Errorf("the public key is empty: paste one line such as \"ssh-ed25519 AAAA… comment\"")
	}
	if len(line) > MaxLineLen {
		return Key{}, fmt.Errorf("the public key line is too long (%d bytes, at most %d)", len(line), MaxLineLen)
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return Key{}, fmt.Errorf("the public key does not parse (%v): paste one line such as \"ssh-ed25519 AAAA… comment\"", err)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return Key{}, fmt.Errorf("give one public key at a time (found more than one line)")
	}
	k := Key{Public: pub, Type: pub.Type(), Comment: comment, Fingerprint: ssh.FingerprintSHA256(pub)}
	if _, isCert := pub.(*ssh.Certificate); isCert || !allowedTypes[k.Type] {
		return Key{}, fmt.Errorf("key type %s is not accepted: use ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (%d bits or more) or a FIDO2 sk- key", k.Type, MinRSABits)
	}
	k.Bits = bits(pub)
	if k.Type == ssh.KeyAlgoRSA && k.Bits < MinRSABits {
		return Key{}, fmt.Errorf("this RSA key has %d bits, which is too weak: at least %d are required (ssh-keygen -t ed25519 makes a better key)", k.Bits, MinRSABits)
	}
	var opts []string
	for _, o := range options {
		name, value, hasValue := strings.Cut(o, "=")
		switch {
		case strings.EqualFold(name, "from") && hasValue:
			v := strings.Trim(value, `"`)
			if err := validateFrom(v); err != nil {
				return Key{}, err
			}
			if k.From != "" {
				return Key{}, fmt.Errorf("the from= option is given twice")
			}
			k.From = v
			opts = append(opts, `from="`+v+`"`)
		case strings.EqualFold(name, "no-touch-required"):
			return Key{}, fmt.Errorf("the no-touch-required option is refused: a FIDO2 key must be touched at every login")
		default:
			return Key{}, fmt.Errorf("key option %q is not supported: only from=\"…\" may be given", name)
		}
	}
	k.Line = strings.TrimSpace(strings.Join(opts, ",") + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment)
	return k, nil
}

func bits(pub ssh.PublicKey) int {
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoSKECDSA256:
		return 256
	case ssh.KeyAlgoECDSA384:
		return 384
	case ssh.KeyAlgoECDSA521:
		return 521
	}
	if cpk, ok := pub.(ssh.CryptoPublicKey); ok {
		if k, ok := cpk.CryptoPublicKey().(*rsa.PublicKey); ok {
			return k.N.BitLen()
		}
	}
	return 0
}

func validateFrom(list string) error {
	if strings.TrimSpace(list) == "" {
		return fmt.Errorf("from=\"\" is empty: give addresses or prefixes such as from=\"10.0.0.0/8,192.0.2.1\"")
	}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimPrefix(strings.TrimSpace(p), "!")
		if p == "" {
			return fmt.Errorf("from=%q has an empty entry", list)
		}
		if strings.Contains(p, "/") {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Errorf("from= entry %q is not a valid prefix", p)
			}
			continue
		}
		if strings.ContainsAny(p, " \t\"'\\") {
			return fmt.Errorf("from= entry %q has invalid characters", p)
		}
	}
	return nil
}

// FromAllows reports whether a connection from ip may use a key restricted by the from= list.
// As in OpenSSH, a matching negated entry (!pattern) refuses outright; otherwise one matching entry
// is needed. Entries are prefixes, addresses or shell-style wildcards over the address text; no
// reverse DNS is done, so host-name entries never match (fail closed).
func FromAllows(list string, ip net.IP) bool {
	if list == "" {
		return true
	}
	if ip == nil {
		return false
	}
	allowed := false
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if matchOne(p, ip) {
			if neg {
				return false
			}
			allowed = true
		}
	}
	return allowed
}

func matchOne(p string, ip net.IP) bool {
	if strings.Contains(p, "/") {
		_, n, err := net.ParseCIDR(p)
		return err == nil && n.Contains(ip)
	}
	if pip := net.ParseIP(p); pip != nil {
		return pip.Equal(ip)
	}
	ok, err := path.Match(p, ip.String())
	return err == nil && ok
}
