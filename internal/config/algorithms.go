package config

import (
	"strings"

	"golang.org/x/crypto/ssh"
)

// Algorithms the SSH server may be told to offer. Ciphers, key exchanges and MACs are those
// golang.org/x/crypto/ssh implements without a known weakness (its SupportedAlgorithms, which
// leaves out hmac-sha1-96, diffie-hellman-group14-sha1 and friends); curve25519-sha256@libssh.org
// is the pre-RFC name of curve25519-sha256, which older clients still send. Host key algorithms
// are those of the keys gatehouse holds (ed25519 and ecdsa-p256): sshd's name for each.
var (
	knownKex      = setOf(append(ssh.SupportedAlgorithms().KeyExchanges, "curve25519-sha256@libssh.org"))
	knownMACs     = setOf(ssh.SupportedAlgorithms().MACs)
	knownHostKeys = setOf([]string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256})
)

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// validAlgorithms checks kexAlgorithms, MACs and hostKeyAlgorithms: at least one each, every
// name one that x/crypto implements (an unknown name would be dropped in silence by it, and a
// list of only unknown names would fall back to its defaults, weak ones included).
func validAlgorithms(c *Config) error {
	for _, l := range []struct {
		key   string
		names []string
		known map[string]bool
		what  string
	}{
		{"kexAlgorithms", c.KexAlgorithms, knownKex, "key exchange"},
		{"MACs", c.MACs, knownMACs, "MAC"},
		{"hostKeyAlgorithms", c.HostKeyAlgorithms, knownHostKeys, "host key algorithm"},
	} {
		if len(l.names) == 0 {
			return bad(l.key, "at least one %s is needed", l.what)
		}
		seen := map[string]bool{}
		for _, n := range l.names {
			if !l.known[n] {
				return bad(l.key, "%q is not a supported %s (%s)", n, l.what, strings.Join(sortedKeys(l.known), ", "))
			}
			if seen[n] {
				return bad(l.key, "%q is listed twice", n)
			}
			seen[n] = true
		}
	}
	return nil
}
