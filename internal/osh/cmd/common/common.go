// Package common holds what several command folders share: how keys and accounts are shown, and
// the creation of egress keys.
package common

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/egress"
	"gatehouse/internal/osh"
	"gatehouse/internal/seal"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"

	"golang.org/x/crypto/ssh"
)

// Bool is The Bastion's integer boolean.
func Bool(b bool) int {
	if b {
		return 1
	}
	return 0
}

// IngressKeysValue renders login keys for JSON and prints them for people.
func IngressKeysValue(p *osh.Printer, keys []store.IngressKey) []map[string]any {
	out := []map[string]any{}
	for _, k := range keys {
		from := sshkey.FromList(k.From)
		size, b64, prefix := 0, "", ""
		if pk, err := sshkey.Parse(k.Line); err == nil {
			size = pk.Bits
			b64 = base64.StdEncoding.EncodeToString(pk.Public.Marshal())
			prefix = linePrefix(k.Line, k.Type, b64)
		}
		out = append(out, map[string]any{
			"id": k.ID, "line": k.Line, "typecode": k.Type, "family": KeyFamily(k.Type), "size": size,
			"fingerprint": k.Fingerprint, "base64": b64, "prefix": prefix,
			"comment": k.Comment, "from_list": from, "created": k.CreatedAt.Unix(),
		})
		p.Line("%s (%s-%d) [%s]", k.Fingerprint, k.Type, size, k.CreatedAt.Format("2006/01/02"))
		p.Line("%s", k.Line)
		p.Line("")
	}
	return out
}

// linePrefix is the options part of an authorized_keys line (`from="…"`), what The Bastion's key
// hash calls prefix: "" when the line starts with the key itself.
func linePrefix(line, typ, b64 string) string {
	i := strings.Index(line, typ+" "+b64)
	if i <= 0 {
		return ""
	}
	return strings.TrimSpace(line[:i])
}

// EgressKeysValue renders egress keys, with the from="…" prefix ready to paste.
func EgressKeysValue(p *osh.Printer, keys []store.EgressKey, from []string) []map[string]any {
	out := []map[string]any{}
	for _, k := range keys {
		line, err := egress.AuthorizedKeyWithFrom(k.Public, from)
		if err != nil {
			line = k.Public // egressKeysFrom is validated at load; never print a broken line
		}
		// As The Bastion's key hash: line is the key alone, prefix (GroupKeyValue) its from="…",
		// fullline both, ready for an authorized_keys file. People are shown the full line.
		out = append(out, map[string]any{
			"id": k.ID, "typecode": k.Type, "family": KeyFamily(k.Type), "size": k.Bits, "fingerprint": k.Fingerprint, "line": strings.TrimSpace(k.Public),
			"fullline": line, "created": k.CreatedAt.Unix(),
		})
		p.Line("%s (%s-%d) [%s]", k.Fingerprint, k.Type, k.Bits, k.CreatedAt.Format("2006/01/02"))
		p.Line("%s", line)
		p.Line("")
	}
	return out
}

// SealPurpose binds sealed egress private keys to their use.
const SealPurpose = seal.PurposeEgressKey

// NewEgressKey generates a key pair for an account or a group and stores it sealed.
func NewEgressKey(ctx context.Context, c *osh.Call, ownerKind, owner, algo string, size int) (store.EgressKey, error) {
	// At most len(KeyGen) at once, bastion-wide: a generation cannot be stopped, so a request
	// waits for its slot while its client is there, never after.
	release, err := c.Env.KeyGenSlot(ctx)
	if err != nil {
		return store.EgressKey{}, fmt.Errorf("waiting for a free key generator: %w", err)
	}
	defer release()
	return StoreNewEgressKey(ctx, c.Env.Store, c.Env.Sealer, ownerKind, owner, algo, size, c.Now())
}

// StoreNewEgressKey is NewEgressKey for callers outside a command (the first admin).
// size 0 picks the algorithm's default (ecdsa 521, rsa 4096).
func StoreNewEgressKey(ctx context.Context, st store.Store, sealer *seal.Sealer, ownerKind, owner, algo string, size int, now time.Time) (store.EgressKey, error) {
	if size == 0 {
		size = map[string]int{egress.AlgoECDSA: 521, egress.AlgoRSA: 4096}[algo]
	}
	pair, err := egress.GenerateKey(rand.Reader, algo, size, owner+"@gatehouse")
	if err != nil {
		return store.EgressKey{}, err
	}
	sealed, err := sealer.Seal(SealPurpose, pair.PrivatePEM)
	if err != nil {
		return store.EgressKey{}, err
	}
	return st.AddEgressKey(ctx, store.EgressKey{
		OwnerKind: ownerKind, Owner: owner, Type: pair.PublicKey.Type(), Bits: pair.Size, Public: pair.AuthorizedKey,
		Fingerprint: pair.Fingerprint, Sealed: sealed, CreatedAt: now.UTC(),
	})
}

// ReadKeyLine reads a public key from the session's standard input (one line, bounded).
func ReadKeyLine(in io.Reader) (string, error) {
	if in == nil {
		return "", fmt.Errorf("no public key given: use --public-key \"ssh-… AAAA…\" or pipe it on standard input")
	}
	// Up to CR or LF, a byte at a time (bounded): on a terminal (ssh -t, the -i prompt) Enter
	// sends CR, and nothing on the bastion's side turns it into LF; waiting for LF, "Please
	// paste the SSH public key, then press Enter:" waited for ever. ^C and ^D, plain bytes on a
	// raw terminal, give up (they are never part of a key).
	var line []byte
	b := make([]byte, 1)
	for len(line) <= sshkey.MaxLineLen {
		n, err := in.Read(b)
		if n == 1 {
			if c := b[0]; c == '\n' || c == '\r' || c == 3 || c == 4 {
				break
			}
			line = append(line, b[0])
		}
		if err != nil {
			break
		}
	}
	if strings.TrimSpace(string(line)) == "" {
		return "", fmt.Errorf("no public key given: use --public-key \"ssh-… AAAA…\" or pipe it on standard input")
	}
	return strings.TrimSpace(string(line)), nil
}

// KeyFromArgs returns the ingress key named by --public-key, or read from standard input when
// --public-key-file is "-" or when neither option is given and readStdin is true.
func KeyFromArgs(c *osh.Call, readStdin bool) (sshkey.Key, error) {
	line := c.Args.String("public-key")
	switch {
	case c.Args.Has("public-key") && c.Args.Has("public-key-file"):
		return sshkey.Key{}, fmt.Errorf("give either --public-key or --public-key-file, not both")
	case c.Args.Has("public-key-file"):
		if f := c.Args.String("public-key-file"); f != "-" {
			return sshkey.Key{}, fmt.Errorf("--public-key-file only accepts \"-\" (standard input): files on the bastion are not readable through commands")
		}
		fallthrough
	case !c.Args.Has("public-key") && readStdin:
		if c.Sess.Interactive || c.Sess.PTY {
			c.P.Line("Please paste the SSH public key, then press Enter:")
		}
		l, err := ReadKeyLine(c.Sess.In)
		if err != nil {
			return sshkey.Key{}, err
		}
		line = l
	}
	k, err := sshkey.Parse(line)
	if err != nil {
		return k, &KeyError{Code: KeyErrorCode(line), Err: err}
	}
	pol := IngressPolicy(c.Cfg())
	applied, err := pol.Apply(k)
	if err != nil {
		code := "KO_NOT_A_KEY"
		if k.Type == ssh.KeyAlgoRSA && sshkey.CheckRSASize(k.Bits, pol.MinRSABits, pol.MaxRSABits) != nil {
			code = "KO_KEY_SIZE_TOO_SMALL"
			if pol.MaxRSABits > 0 && k.Bits > pol.MaxRSABits {
				code = "KO_KEY_SIZE_INVALID"
			}
		}
		return k, &KeyError{Code: code, Err: err}
	}
	return applied, nil
}

// IngressPolicy is the configuration's policy for new ingress keys (ingressKeysFrom,
// ingressKeysFromAllowOverride, minimum/maximumIngressRsaKeySize).
func IngressPolicy(cfg *config.Config) sshkey.Policy {
	return sshkey.Policy{IngressKeysFrom: cfg.IngressKeysFrom, AllowOverride: cfg.IngressKeysFromAllowOverride,
		MinRSABits: cfg.MinimumIngressRsaKeySize, MaxRSABits: cfg.MaximumIngressRsaKeySize}
}

// TTL formats an account expiry for people.
func TTL(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format(time.RFC3339)
}

// IsActive reports an account's activeness as accountInfo shows it, with the reason.
func IsActive(a *store.Account, now time.Time, globalMaxInactive int) (bool, string) {
	switch {
	case a.Frozen:
		return false, "frozen"
	case !a.ExpiresAt.IsZero() && now.After(a.ExpiresAt):
		return false, "ttl expired"
	}
	if _, expired := osh.InactivityExpired(a, now, globalMaxInactive); expired {
		return false, "inactive"
	}
	if a.AlwaysActive {
		return true, "account local configuration"
	}
	return true, ""
}

// MFAState is an account's second-factor state as info and accountInfo show it: which factors
// are configured and the account's MFA flags, never the factors themselves. It prints one line.
func MFAState(ctx context.Context, c *osh.Call, a store.Account) map[string]any {
	m, err := c.Env.Store.GetMFA(ctx, a.Name)
	if err != nil {
		return nil
	}
	pw := m.PasswordHash != "" && !m.PasswordTemporary
	v := map[string]any{"mfa_password_configured": Bool(pw), "mfa_totp_configured": Bool(m.TOTPSet)}
	for _, k := range []string{"mfa_password_required", "mfa_totp_required", "pam_auth_bypass", "pubkey_auth_optional", "personal_egress_mfa_required"} {
		val := a.Settings[k]
		switch {
		case val != "":
		case k == "personal_egress_mfa_required":
			val = "none"
		default:
			val = "no"
		}
		v[k] = val
	}
	word := map[bool]string{true: "configured", false: "not configured"}
	c.P.Line("MFA: password %s, TOTP %s.", word[pw], word[m.TOTPSet])
	return v
}
