package access

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/refusal"
)

// Exit codes of The Bastion that the decision can produce (the one table is internal/refusal's).
const (
	ExitPluginError       = refusal.ExitPluginFailed
	ExitHostNotFound      = refusal.ExitHostNotFound
	ExitAccessDenied      = refusal.ExitAccessDenied
	ExitTTLExpired        = refusal.ExitTTLExpired
	ExitInvalidAccount    = refusal.ExitInvalidAccount
	ExitInvalidRemoteUser = refusal.ExitInvalidUser
	ExitInvalidRemoteHost = refusal.ExitInvalidHost
	ExitAccountFrozen     = refusal.ExitFrozen
	ExitInvalidPort       = refusal.ExitInvalidPort
)

// Refusal is a decision that says no, with The Bastion's code, exit status and sentence: the
// one refusal type of a session's path (internal/refusal). Use errors.As to read it.
type Refusal = refusal.Refusal

// Grant is one way the account may reach the target.
type Grant struct {
	Kind  Kind
	Group string // empty for personal accesses
	Entry Entry  // the most specific ACL entry that matched
	// Keys are the keys this access offers, newest first (The Bastion's
	// sortedKeys order).
	Keys []Key
	MFA  MFA // the group's --mfa-required, or the account's personal one
	// IdleLock and IdleKill are the group's overrides (nil: use global).
	IdleLock, IdleKill *time.Duration
	// CatchAll is set when the entry that matched is a /0: such accesses
	// are ignored when combining idle timeouts, as The Bastion does.
	CatchAll bool
	// ForcePassword is the hash of the only egress password this access may log in with
	// (--force-password); "" for any of the owner's.
	ForcePassword string
}

// ForcedKeys keeps the key whose fingerprint is forceKey (--force-key), or all keys when
// forceKey is "". A fingerprint that names no key leaves none: the access then offers no key
// rather than another one (fail closed).
func ForcedKeys(keys []Key, forceKey string) []Key {
	if forceKey == "" {
		return keys
	}
	var out []Key
	for _, k := range keys {
		if k.Fingerprint == forceKey {
			out = append(out, k)
		}
	}
	return out
}

// Decision is the list of accesses that allow a connection, in order.
type Decision struct {
	Grants []Grant
}

// Keys returns every key of every grant, in order, each once: the egress
// client offers all of them, as The Bastion passes every -i to ssh.
func (d Decision) Keys() []Key {
	var out []Key
	seen := map[string]bool{}
	for _, g := range d.Grants {
		for _, k := range g.Keys {
			id := k.ID
			if id == "" {
				id = "fp:" + k.Fingerprint
			}
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, k)
		}
	}
	return out
}

// MFA returns the distinct second-factor requirements of the grants, in
// order. Every one must be satisfied before connecting: one requiring grant
// is enough to require MFA ("one that requires MFA wins"), and when grants
// ask for different factors we ask for each rather than pick one.
func (d Decision) MFA() []MFA {
	var out []MFA
	for _, g := range d.Grants {
		if g.MFA.Required() && !slices.Contains(out, g.MFA) {
			out = append(out, g.MFA)
		}
	}
	return out
}

// AccountGate is the one account gate: it refuses a frozen account and an account whose TTL has
// passed, with The Bastion's codes and sentences (osh.pl's KO_ACCOUNT_FROZEN 131 and
// KO_TTL_EXPIRED 121). The dispatcher applies it before any command or connection, and Decide
// again for each connection.
func AccountGate(now time.Time, acct Account) *Refusal {
	if acct.Frozen {
		msg := fmt.Sprintf("Sorry %s, your account is frozen.", acct.Name)
		if acct.FrozenReason != "" {
			msg = fmt.Sprintf("Sorry %s, your account is frozen (%s).", acct.Name, acct.FrozenReason)
		}
		return &Refusal{Code: "KO_ACCOUNT_FROZEN", Exit: ExitAccountFrozen, Message: msg}
	}
	if !acct.Expiry.IsZero() && !now.Before(acct.Expiry) {
		return &Refusal{Code: "KO_TTL_EXPIRED", Exit: ExitTTLExpired,
			Message: fmt.Sprintf("Sorry %s, access denied (account TTL expired on %s)", acct.Name, acct.Expiry.UTC().Format("2006-01-02 15:04:05 UTC"))}
	}
	return nil
}

// Decide returns the accesses account has to target at now, or a *Refusal.
// personal is the account's personal ACL; groups may include groups the
// account has no role in (they are skipped).
func Decide(now time.Time, acct Account, groups []Group, personal []Entry, t Target) (Decision, error) {
	if err := ValidateAccountName(acct.Name); err != nil {
		return Decision{}, &Refusal{Code: "KO_ACCOUNT_INVALID", Exit: ExitInvalidAccount, Message: "The account is invalid (" + err.Error() + ")"}
	}
	if r := AccountGate(now, acct); r != nil {
		return Decision{}, r
	}
	t, err := checkTarget(t)
	if err != nil {
		return Decision{}, err
	}
	if acct.OSHOnly {
		return Decision{}, &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied, Message: "You don't have the right to connect anywhere"}
	}

	var d Decision
	if e, bits, ok := bestMatch(now, personal, t); ok {
		d.Grants = append(d.Grants, Grant{
			Kind: KindPersonal, Entry: e, Keys: ForcedKeys(newestFirst(acct.EgressKeys), e.ForceKey), ForcePassword: e.ForcePassword,
			MFA: acct.PersonalEgressMFA, CatchAll: bits == 0,
		})
	}

	sorted := slices.Clone(groups)
	slices.SortStableFunc(sorted, func(a, b Group) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range sorted {
		member := slices.Contains(g.Members, acct.Name)
		guest := g.Guests[acct.Name]
		if !member && len(guest) == 0 {
			continue
		}
		// The group itself must reach the target, for members and guests alike.
		ge, gbits, ok := bestMatch(now, g.Servers, t)
		if !ok {
			continue
		}
		// The group's server entry says which key or password it is bound to, for guests too.
		grant := Grant{Group: g.Name, Keys: ForcedKeys(newestFirst(g.EgressKeys), ge.ForceKey), ForcePassword: ge.ForcePassword,
			MFA: g.MFARequired, IdleLock: g.IdleLockTimeout, IdleKill: g.IdleKillTimeout}
		if member {
			grant.Kind, grant.Entry, grant.CatchAll = KindGroupMember, ge, gbits == 0
		} else {
			e, bits, ok := bestMatch(now, guest, t)
			if !ok {
				continue
			}
			grant.Kind, grant.Entry, grant.CatchAll = KindGroupGuest, e, bits == 0
		}
		d.Grants = append(d.Grants, grant)
	}

	if len(d.Grants) == 0 {
		msg := "Access denied for " + acct.Name + " to " + MachineDisplay(t.User, t.IP.String(), t.Port)
		if t.User == acct.Name {
			// The Bastion adds this because people expect root as the default login.
			msg += fmt.Sprintf(" (tried with remote user '%s')", t.User)
		}
		return Decision{}, &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied, Message: msg}
	}
	return d, nil
}

// Matches reports whether e allows t at now and how specific the match is:
// the prefix length of the matching network (32 or 128 for one address, 0
// for a catch-all), or 129 for a host-name match. Expired or malformed
// entries match nothing.
func (e Entry) Matches(now time.Time, t Target) (specificity int, ok bool) {
	if e.Expired(now) || t.User == "" {
		return 0, false
	}
	if e.Port != 0 && e.Port != t.Port {
		return 0, false
	}
	if !userMatches(e.User, t.User) {
		return 0, false
	}
	return hostMatches(e.Host, t)
}

// HostMayMatch reports whether an entry of this host can match t whatever its user, port and
// expiry: the host part of Entry.Matches, which never matches without it. whoHasAccessTo's
// loader leaves out the entries it refuses (accessdb.LoadIndex).
func HostMayMatch(host string, t Target) bool {
	_, ok := hostMatches(host, t)
	return ok
}

func hostMatches(host string, t Target) (specificity int, ok bool) {
	h, err := ParseHost(host)
	if err != nil {
		return 0, false
	}
	if h.Kind == HostName {
		// A name entry only matches the same name typed by the user; the
		// caller still connects to the address it resolved.
		if t.Host == "" || !strings.EqualFold(strings.TrimSuffix(t.Host, "."), h.Name) {
			return 0, false
		}
		return 129, true
	}
	if !h.Contains(t.IP) {
		return 0, false
	}
	return h.Prefix.Bits(), true
}

// bestMatch picks the most specific entry of acl matching t (The Bastion
// prefers an exact address, then the smallest network); ties keep the first.
func bestMatch(now time.Time, acl []Entry, t Target) (Entry, int, bool) {
	var best Entry
	bestBits, found := -1, false
	for _, e := range acl {
		bits, ok := e.Matches(now, t)
		if ok && bits > bestBits {
			best, bestBits, found = e, bits, true
		}
	}
	return best, bestBits, found
}

// userMatches applies an ACL user to a wanted user. "" (The Bastion's
// --user-any) matches everyone; * and ? are shell-style wildcards.
func userMatches(pattern, user string) bool {
	if pattern == "" || pattern == "*" {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == user
	}
	// Remote users never contain '/', so path.Match is a plain glob here;
	// a malformed pattern matches nothing.
	ok, err := path.Match(pattern, user)
	return err == nil && ok
}

func newestFirst(keys []Key) []Key {
	out := slices.Clone(keys)
	slices.SortStableFunc(out, func(a, b Key) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// MachineDisplay formats user@host:port as The Bastion's machine_display
// does, with brackets around IPv6 addresses.
func MachineDisplay(user, host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	s := host
	if port > 0 {
		s += ":" + strconv.Itoa(port)
	}
	if user != "" {
		s = user + "@" + s
	}
	return s
}

// TryLines are the lines The Bastion prints before connecting
// (get_details_from_access_array in osh.pl), without colours:
//
//	 will try the following accesses you have:
//	  - personal access with ED25519-256 key SHA256:… [2019/07/11]
//	  - group-member of securegroup with ED25519-256 key SHA256:… [2023/03/03]  (MFA REQUIRED: ANY)
//	(empty line)
//
// Each key of each grant gets a line, even when the same key appears in two
// grants (it is offered once). Dates are shown in loc (The Bastion uses the
// server's local time); nil means UTC.
func TryLines(d Decision, loc *time.Location) []string {
	if loc == nil {
		loc = time.UTC
	}
	lines := []string{" will try the following accesses you have:"}
	for _, g := range d.Grants {
		var who string
		switch g.Kind {
		case KindPersonal:
			who = "personal access"
		default:
			who = string(g.Kind) + " of " + g.Group
		}
		suffix := " "
		if g.MFA.Required() {
			suffix += " (MFA REQUIRED: " + strings.ToUpper(string(g.MFA)) + ")"
		}
		for _, k := range g.Keys {
			lines = append(lines, fmt.Sprintf("  - %s with %s-%d key %s %s%s",
				who, k.Family, k.Size, k.Fingerprint, k.CreatedAt.In(loc).Format("[2006/01/02]"), suffix))
		}
	}
	return append(lines, "")
}

// checkTarget refuses a target no access can match (Decide's checks of the target, shared
// with WhoHasAccess) and returns it with its IP unmapped.
func checkTarget(t Target) (Target, error) {
	if err := ValidateRemoteUser(t.User, false); err != nil {
		return t, &Refusal{Code: "KO_INVALID_REMOTE_USER", Exit: ExitInvalidRemoteUser, Message: err.Error()}
	}
	if t.Port <= 0 || t.Port > 65535 {
		return t, &Refusal{Code: "KO_INVALID_PORT", Exit: ExitInvalidPort, Message: fmt.Sprintf("invalid port %d: port must be numeric and 0 < port <= 65535", t.Port)}
	}
	if !t.IP.IsValid() {
		return t, &Refusal{Code: "KO_HOST_NOT_FOUND", Exit: ExitHostNotFound, Message: fmt.Sprintf("Unable to resolve host '%s'", t.Host)}
	}
	t.IP = t.IP.Unmap()
	return t, nil
}
