package access

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HostKind says what an ACL host is.
type HostKind int

const (
	HostIP     HostKind = iota + 1 // a single address (a /32 or /128 is folded into this)
	HostPrefix                     // a network prefix such as 10.0.0.0/24
	HostName                       // a DNS name, matched against the name the user typed
)

// Host is a parsed ACL host.
type Host struct {
	Kind   HostKind
	Prefix netip.Prefix // for HostIP a full-length prefix, for HostPrefix the masked network
	Name   string       // for HostName, lower-cased
}

// String gives the canonical form stored in ACLs.
func (h Host) String() string {
	switch h.Kind {
	case HostIP:
		return h.Prefix.Addr().String()
	case HostPrefix:
		return h.Prefix.String()
	case HostName:
		return h.Name
	}
	return ""
}

// Contains reports whether addr is inside h (never true for host names).
func (h Host) Contains(addr netip.Addr) bool {
	if h.Kind != HostIP && h.Kind != HostPrefix {
		return false
	}
	return addr.IsValid() && h.Prefix.Contains(addr.Unmap())
}

var hostLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// ParseHost parses an IP, a prefix or a host name, as --host accepts them.
// A prefix with host bits set (10.0.0.5/24) is refused rather than silently
// widened, so the ACL says exactly what the aclkeeper meant.
func ParseHost(s string) (Host, error) {
	if s == "" {
		return Host{}, errors.New("missing host: give an IP, a prefix (10.0.0.0/24) or a host name")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Host{}, fmt.Errorf("invalid IP prefix %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return Host{}, fmt.Errorf("invalid IP prefix %q: write IPv4 networks in IPv4 notation", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Masked() != p {
			return Host{}, fmt.Errorf("invalid IP prefix %q: host bits are set, did you mean %s?", s, p.Masked())
		}
		if p.IsSingleIP() {
			return Host{Kind: HostIP, Prefix: p}, nil
		}
		return Host{Kind: HostPrefix, Prefix: p}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Host{}, fmt.Errorf("invalid IP %q: zones are not allowed", s)
		}
		a = a.Unmap()
		return Host{Kind: HostIP, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if len(name) > 253 {
		return Host{}, fmt.Errorf("invalid host %q: longer than 253 characters", s)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if !hostLabel.MatchString(l) {
			return Host{}, fmt.Errorf("invalid host %q: not an IP, a prefix or a host name (letters, digits, '-' and '.')", s)
		}
	}
	// A name made only of digits and dots is a mistyped address (10.0.0.256), not a name.
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return Host{}, fmt.Errorf("invalid host %q: looks like an IP address but is not one", s)
	}
	return Host{Kind: HostName, Name: name}, nil
}

// CheckACLHost applies the prefix policy for adding h to an ACL, as The Bastion does: a prefix
// (a /24, a /17 …) is accepted without --force, bounded only by the widest_v4_prefix /
// widest_v6_prefix setting of the command (widestV4/widestV6; 0 means no bound, as /0 is the
// widest there is). A prefix is never connection-tested ("Can't test a connection to a
// subnet").
func CheckACLHost(h Host, widestV4, widestV6 int) error {
	if h.Kind != HostPrefix {
		return nil
	}
	widest := widestV6
	v := 6
	if h.Prefix.Addr().Is4() {
		widest, v = widestV4, 4
	}
	if widest > 0 && h.Prefix.Bits() < widest {
		//lint:ignore ST1005 The Bastion's own sentence, shown to the user as it is
		return fmt.Errorf("Specified prefix length (/%d) is too wide, maximum allowed for IPv%d is /%d by policy", h.Prefix.Bits(), v, widest)
	}
	return nil
}

// DNSStep is what adding a host needs before it is stored.
type DNSStep int

const (
	DNSNone    DNSStep = iota // an IP or a prefix: stored as given
	DNSResolve                // a host name, resolved to an IP now (The Bastion stores IPs)
	DNSRefuse                 // a host name while dnsSupportLevel is 0: ERR_DNS_DISABLED
)

// DecideDNS says what adding h needs under The Bastion's dnsSupportLevel (0: no DNS at all, 1:
// forward only, 2: forward and reverse). Any level but 1 and 2 refuses names (fail closed).
func DecideDNS(h Host, dnsSupportLevel int) DNSStep {
	if h.Kind != HostName {
		return DNSNone
	}
	if dnsSupportLevel == 1 || dnsSupportLevel == 2 {
		return DNSResolve
	}
	return DNSRefuse
}

// PickResolved chooses the address a host name is stored as: the first IPv4 address, else the
// first IPv6 one, unmapped. ok is false when there is none usable (no address, a zone, or an
// unspecified or multicast address, which no server has).
func PickResolved(addrs []netip.Addr) (netip.Addr, bool) {
	var v6 netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			continue
		}
		if a.Is4() {
			return a, true
		}
		if !v6.IsValid() {
			v6 = a
		}
	}
	return v6, v6.IsValid()
}

// ValidatePort checks a port as The Bastion does: numeric, 0 < port <= 65535.
func ValidatePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("invalid port %q: port must be numeric and 0 < port <= 65535", s)
	}
	return n, nil
}

var (
	remoteUser         = regexp.MustCompile(`^[a-zA-Z0-9._!-]{1,128}$`)
	remoteUserWildcard = regexp.MustCompile(`^[a-zA-Z0-9._!*?-]{1,128}$`)
)

// ValidateRemoteUser checks a remote user name with The Bastion's rule
// (letters, digits, '.', '_', '!', '-', 1 to 128 characters): no shell
// metacharacter, space or '@' can reach the target's command line. ACL
// entries may also use the * and ? wildcards (allowWildcards).
func ValidateRemoteUser(s string, allowWildcards bool) error {
	re := remoteUser
	if allowWildcards {
		re = remoteUserWildcard
	}
	if !re.MatchString(s) || strings.HasPrefix(s, "-") {
		return fmt.Errorf("invalid remote user %q: specified user doesn't seem to be valid (letters, digits, '.', '_', '!', '-', at most 128)", s)
	}
	return nil
}

var nameChars = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidateAccountName applies The Bastion's is_account_valid rule: 2 to 28
// characters (28 = 32, the Unix limit, minus "-tty"), letters, digits, '.',
// '_', '-', not starting with '-' or '.', no reserved prefix, suffix or name.
// We keep the limits although we create no Unix users, so accounts and
// scripts move between the two bastions unchanged.
func ValidateAccountName(s string) error {
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return errors.New("missing account name")
	case !nameChars.MatchString(s):
		return fmt.Errorf("account name %q contains forbidden characters (allowed: letters, digits, '.', '_', '-')", s)
	case s[0] == '-' || s[0] == '.':
		return fmt.Errorf("account name %q must not start with a '-' nor a '.'", s)
	case len(s) < 2:
		return fmt.Errorf("account name %q is too short (at least 2 characters)", s)
	case len(s) > 28:
		return fmt.Errorf("account name %q is too long (at most 28 characters)", s)
	case hasAnySuffix(lower, "-tty", "-aclkeeper", "-gatekeeper", "-owner"):
		return fmt.Errorf("account name %q contains an unauthorized suffix", s)
	case strings.HasPrefix(lower, "key"):
		return fmt.Errorf("account name %q contains an unauthorized key prefix", s)
	case strings.HasPrefix(s, "realm_"):
		return fmt.Errorf("account name %q contains an unauthorized realm prefix", s)
	}
	switch s {
	case "root", "proxyhttp", "keykeeper", "passkeeper", "logkeeper", "realm", "realm_realm":
		return fmt.Errorf("account name %q is reserved", s)
	}
	return nil
}

// ValidateGroupName applies The Bastion's is_valid_group rule for a bastion
// group's short name: at most 18 characters (32 minus "key" and
// "-gatekeeper"), letters, digits, '.', '_', '-', not starting with '-' or
// '.', no "key" prefix, no role suffix, not a reserved name.
func ValidateGroupName(s string) error {
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return errors.New("missing group name")
	case !nameChars.MatchString(s):
		return fmt.Errorf("group name %q contains invalid characters (allowed: letters, digits, '.', '_', '-')", s)
	case s[0] == '-' || s[0] == '.':
		return fmt.Errorf("group name %q can't start with a '-' nor a '.'", s)
	case len(s) > 18:
		return fmt.Errorf("group name %q is too long (limit is 18 chars)", s)
	case strings.HasSuffix(lower, "keeper") || strings.HasSuffix(lower, "owner") || strings.HasSuffix(lower, "-tty"):
		return fmt.Errorf("group name %q has a forbidden suffix", s)
	case strings.HasPrefix(lower, "key"):
		return fmt.Errorf("group name %q has a forbidden prefix", s)
	}
	switch s {
	case "private", "root", "user", "self", "legacy", "osh":
		return fmt.Errorf("group name %q is forbidden", s)
	}
	return nil
}

// CheckGuestTTL enforces a group's guest TTL limit on a new guest access:
// with a limit, the access must have a TTL and it must not exceed the limit.
func CheckGuestTTL(limit, ttl time.Duration) error {
	if limit <= 0 {
		return nil
	}
	if ttl <= 0 {
		return fmt.Errorf("this group requires guest accesses to have a TTL of at most %s, please add --ttl", limit)
	}
	if ttl > limit {
		return fmt.Errorf("the TTL %s is longer than this group's guest TTL limit (%s)", ttl, limit)
	}
	return nil
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}
