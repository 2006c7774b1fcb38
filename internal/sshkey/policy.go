package sshkey

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Policy is the bastion's configuration for new ingress keys (The Bastion's bastion.conf names).
type Policy struct {
	// IngressKeysFrom is put in from="…" of every new key (ingressKeysFrom).
	IngressKeysFrom []string
	// AllowOverride lets a from="…" given with the key replace IngressKeysFrom
	// (ingressKeysFromAllowOverride).
	AllowOverride bool
	// MinRSABits and MaxRSABits bound RSA keys (minimumIngressRsaKeySize,
	// maximumIngressRsaKeySize); 0 means MinRSABits and no maximum.
	MinRSABits, MaxRSABits int
}

// DecideFrom is the from= list a new key gets, as The Bastion's get_from_for_user_key: the
// bastion's list, unless the key brings its own and overriding is allowed. One difference, to
// fail closed: with no bastion list, the key's own from= is kept (The Bastion would drop it
// unless overriding is allowed); a restriction the user asked for is never silently lifted.
func DecideFrom(userFrom string, ingressKeysFrom []string, allowOverride bool) string {
	switch {
	case userFrom != "" && allowOverride:
		return userFrom
	case len(ingressKeysFrom) > 0:
		return strings.Join(ingressKeysFrom, ",")
	}
	return userFrom
}

// Apply checks k against the policy and returns it with its from= list decided (Line rebuilt).
func (p Policy) Apply(k Key) (Key, error) {
	if k.Type == ssh.KeyAlgoRSA {
		if err := CheckRSASize(k.Bits, p.MinRSABits, p.MaxRSABits); err != nil {
			return Key{}, err
		}
	}
	from := DecideFrom(k.From, p.IngressKeysFrom, p.AllowOverride)
	if from != "" {
		if err := validateFrom(from); err != nil {
			return Key{}, fmt.Errorf("ingressKeysFrom: %w", err)
		}
	}
	return k.WithFrom(from), nil
}

// CheckRSASize applies minimumIngressRsaKeySize and maximumIngressRsaKeySize; min below
// MinRSABits is raised to it (gatehouse never accepts weaker keys), max 0 is no maximum.
func CheckRSASize(bits, min, max int) error {
	min = maxInt(min, MinRSABits)
	if bits < min {
		return fmt.Errorf("this RSA key has %d bits, which is too weak: at least %d are required by this bastion's policy (ssh-keygen -t ed25519 makes a better key)", bits, min)
	}
	if max > 0 && bits > max {
		return fmt.Errorf("this RSA key has %d bits, more than the %d this bastion's policy allows", bits, max)
	}
	return nil
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// WithFrom returns k restricted to the from= list from ("" : none), its Line rebuilt.
func (k Key) WithFrom(from string) Key {
	k.From = from
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Public)))
	if k.Comment != "" {
		line += " " + k.Comment
	}
	if from != "" {
		line = `from="` + from + `" ` + line
	}
	k.Line = line
	return k
}

// FromList is the from= list of a key as The Bastion's JSON shows it (from_list,
// connect_only_from): an empty list when unrestricted.
func FromList(from string) []string {
	out := []string{}
	if from == "" {
		return out
	}
	for _, p := range strings.Split(from, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}
