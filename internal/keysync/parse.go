package keysync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"gatehouse/internal/access"
	"gatehouse/internal/sshkey"
)

// Limits on what a source may hand over, so that a hostile or broken source cannot exhaust
// memory: each object is read up to MaxObjectBytes (larger fails the run closed, as a truncated
// key file would silently drop keys), and at most MaxKeysPerAccount keys are kept.
const (
	MaxObjectBytes    = 256 << 10
	MaxKeysPerAccount = 100
	MaxGroups         = 100
	MaxAccounts       = 100000
)

// Suffixes of the objects a source lays out: PREFIX/<account>.pub holds the keys (one per line,
// as authorized_keys), PREFIX/<account>.groups the groups (one name per line), optional.
const (
	KeysSuffix   = ".pub"
	GroupsSuffix = ".groups"
)

// ParseKeys reads a key file: one key per line in authorized_keys form, blank lines and lines
// starting with # ignored. Each line is checked by the bastion's own rules (sshkey.Parse: kinds,
// RSA size, from=); a bad line is reported by its number and skipped, the others are kept. A
// key given twice is kept once.
func ParseKeys(data []byte) (keys []sshkey.Key, bad []string) {
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := sshkey.Parse(line)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("line %d skipped: %v", i+1, err))
		case seen[k.Fingerprint]:
			bad = append(bad, fmt.Sprintf("line %d skipped: key %s given twice", i+1, k.Fingerprint))
		case len(keys) >= MaxKeysPerAccount:
			bad = append(bad, fmt.Sprintf("line %d skipped: more than %d keys", i+1, MaxKeysPerAccount))
		default:
			seen[k.Fingerprint] = true
			keys = append(keys, k)
		}
	}
	return keys, bad
}

// ParseGroups reads a groups file: one group name per line, blank lines and # comments ignored.
// A bad name is reported and skipped.
func ParseGroups(data []byte) (groups []string, bad []string) {
	seen := map[string]bool{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := access.ValidateGroupName(line); err != nil {
			bad = append(bad, fmt.Sprintf("groups line %d skipped: %v", i+1, err))
			continue
		}
		if !seen[line] && len(groups) < MaxGroups {
			seen[line] = true
			groups = append(groups, line)
		}
	}
	if groups == nil {
		groups = []string{}
	}
	return groups, bad
}

// AccountOf returns the account an object name (S3 key or file name) stands for and the
// suffix it carries (KeysSuffix or GroupsSuffix), as the seed's get_user_name does:
// "public-keys/john.pub" is john's keys. ok is false for any other object, objects in
// sub-folders included (a prefix is a flat folder).
func AccountOf(prefix, object string) (account, suffix string, ok bool) {
	rest, found := strings.CutPrefix(object, prefix)
	if !found || strings.Contains(rest, "/") {
		return "", "", false
	}
	for _, suf := range []string{KeysSuffix, GroupsSuffix} {
		if name, found := strings.CutSuffix(rest, suf); found && name != "" && path.Base(name) == name {
			return name, suf, true
		}
	}
	return "", "", false
}

// SHA256Version identifies content by its hash, for sources without an ETag.
func SHA256Version(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// builder gathers objects into a Snapshot.
type builder struct {
	snap Snapshot
}

func newBuilder() *builder { return &builder{snap: Snapshot{}} }

// add records one object's content. The account name is checked by Reconcile (which reports a
// bad name), so that it appears in the plan rather than vanishing.
func (b *builder) add(account, suffix, object, version string, data []byte) {
	e := b.snap[account]
	switch suffix {
	case KeysSuffix:
		var bad []string
		e.Keys, bad = ParseKeys(data)
		e.Bad = append(e.Bad, bad...)
		e.Object, e.Version = object, version
	case GroupsSuffix:
		var bad []string
		e.Groups, bad = ParseGroups(data)
		e.Bad = append(e.Bad, bad...)
	}
	b.snap[account] = e
}

// done returns the snapshot. An account with only a groups object has no keys: Reconcile
// freezes it if managed, creates nothing otherwise.
func (b *builder) done() Snapshot { return b.snap }

// ApplyPolicy puts the bastion's rules for new ingress keys on every key a source hands over,
// the same rules as for a key added by a command (sshkey.Policy.Apply: ingressKeysFrom with
// ingressKeysFromAllowOverride, minimum/maximumIngressRsaKeySize): a synced key gets the
// from="…" list a key added by selfAddIngressKey would get, and a key the policy refuses is
// reported in Bad and left out (fail closed: never stored without its restriction). The
// snapshot given is not changed. Because the stored line carries the from= list, a change of
// ingressKeysFrom reaches the synced keys at the next run (their lines differ: replaced).
func ApplyPolicy(snap Snapshot, pol sshkey.Policy) Snapshot {
	out := make(Snapshot, len(snap))
	for name, e := range snap {
		keys := make([]sshkey.Key, 0, len(e.Keys))
		bad := slices.Clone(e.Bad)
		for _, k := range e.Keys {
			applied, err := pol.Apply(k)
			if err != nil {
				bad = append(bad, fmt.Sprintf("key %s skipped: %v", k.Fingerprint, err))
				continue
			}
			keys = append(keys, applied)
		}
		e.Keys, e.Bad = keys, bad
		out[name] = e
	}
	return out
}
