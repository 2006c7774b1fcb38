package common

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/osh"
	"gatehouse/internal/refusal"
	"gatehouse/internal/store"
)

// ACLOptions are the options of the commands that add or remove one server access, The Bastion's
// names: --host, --user or --user-any, --port or --port-any, --ttl, --comment, --force. extra come
// first (--group, --account).
func ACLOptions(extra ...osh.Option) []osh.Option {
	return append(extra,
		osh.Option{Name: "host", Kind: osh.String, Help: "an IP, a whole subnet in the PREFIX/SIZE notation, or a host name (resolved to an IP immediately)"},
		osh.Option{Name: "user", Kind: osh.String, Help: "the remote user (\"*\" is the same as --user-any)"},
		osh.Option{Name: "user-any", Kind: osh.Flag, Help: "any remote user"},
		osh.Option{Name: "port", Kind: osh.String, Help: "the remote port (\"*\" is the same as --port-any)"},
		osh.Option{Name: "port-any", Kind: osh.Flag, Help: "any remote port"},
		osh.Option{Name: "ttl", Kind: osh.Duration, Help: "the access expires after this long (e.g. 1d12h)"},
		osh.Option{Name: "comment", Kind: osh.Words, Help: "a free comment"},
		osh.Option{Name: "force", Kind: osh.Flag, Help: "don't try the ssh connection, just add the access blindly"},
		osh.Option{Name: "scpup", Kind: osh.Flag, Help: "the scp upload protocol, in addition to an SSH access (instead of --user)"},
		osh.Option{Name: "scpdown", Kind: osh.Flag, Help: "the scp download protocol, in addition to an SSH access (instead of --user)"},
		osh.Option{Name: "sftp", Kind: osh.Flag, Help: "the sftp protocol, in addition to an SSH access (instead of --user)"},
		osh.Option{Name: "rsync", Kind: osh.Flag, Help: "the rsync protocol, in addition to an SSH access (instead of --user)"},
		osh.Option{Name: "forward", Kind: osh.Flag, Help: "local and dynamic port forwarding (ssh -L, -D) to this host and port, relayed and audited as raw TCP (instead of --user; needs --port)"},
		osh.Option{Name: "remote-forward", Kind: osh.Flag, Help: "remote port forwarding (ssh -R): this host listens on this port for the client, through a ProxyJump or the target in the user name (instead of --user; needs --port, and an SSH access to the host)"},
	)
}

// AddACLOptions are ACLOptions plus the options of the commands that add an access: --force-key
// and --force-password bind it to one egress key or password.
func AddACLOptions(extra ...osh.Option) []osh.Option {
	return append(ACLOptions(extra...),
		osh.Option{Name: "force-key", Kind: osh.String, Help: "only use the key with this fingerprint to connect to the server"},
		osh.Option{Name: "force-password", Kind: osh.String, Help: "only use the password with this hash to connect to the server (see selfListPasswords)"})
}

// fingerprintRe is an OpenSSH SHA256 fingerprint; cryptHashRe a crypt(3) hash of The Bastion's
// kinds (md5crypt, sha256crypt, sha512crypt, and Cisco's type 8/9).
var (
	fingerprintRe = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`)
	cryptHashRe   = regexp.MustCompile(`^\$(1|5|6|8|9)\$[A-Za-z0-9./]{1,16}\$[A-Za-z0-9./]{1,100}$`)
)

// ACLInput is one access as typed, before validation.
type ACLInput struct {
	Host    string
	User    string
	UserAny bool
	Port    string
	PortAny bool
	// Force adds without trying the connection first.
	Force bool
	// WidestV4 and WidestV6 bound the prefixes added ([plugin.NAME] widest_v4_prefix; 0: none).
	WidestV4, WidestV6 int
	// ForceKey and ForcePassword bind the access to one egress key or password.
	ForceKey, ForcePassword string
	// Protocols are the protocol flags given (--scpup, --scpdown, --sftp, --rsync): the entry
	// then grants that protocol (access.ProtocolUser) instead of a remote user.
	Protocols []access.Protocol
}

// ACLSpec is a validated access. The zero User means any user, the zero Port any port.
type ACLSpec struct {
	Host    access.Host
	User    string
	Port    int
	TTL     time.Duration
	Comment string
	// ForceKey and ForcePassword: --force-key FINGERPRINT, --force-password HASH.
	ForceKey, ForcePassword string
}

// CodedError is a refusal with The Bastion's code, from a pure check.
type CodedError struct {
	Code    string
	Message string
}

func (e *CodedError) Error() string { return e.Message }

func coded(code, format string, a ...any) *CodedError {
	return &CodedError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// CheckACL validates one access. adding applies the prefix policy (--force); wildcards allows *
// and ? in the user (group and personal lists do, guest accesses do not, as in The Bastion).
func CheckACL(in ACLInput, adding, wildcards bool) (ACLSpec, *CodedError) {
	var s ACLSpec
	if in.Host == "" {
		return s, coded("ERR_MISSING_PARAMETER", "Missing mandatory parameter --host")
	}
	h, err := access.ParseHost(in.Host)
	if err != nil {
		code := "KO_INVALID_REMOTE_HOST"
		if strings.ContainsAny(in.Host, "/:") || strings.Trim(in.Host, "0123456789.") == "" {
			code = "KO_INVALID_IP"
		}
		return s, coded(code, "%v", err)
	}
	if adding {
		if err := access.CheckACLHost(h, in.WidestV4, in.WidestV6); err != nil {
			return s, coded("ERR_INVALID_PARAMETER", "%v", err)
		}
	}
	s.Host = h
	switch {
	case in.ForceKey != "" && in.ForcePassword != "":
		return s, coded("ERR_INCOMPATIBLE_PARAMETERS", "Can't use --force-key and --force-password at the same time")
	case in.ForceKey != "" && !fingerprintRe.MatchString(in.ForceKey):
		return s, coded("ERR_INVALID_PARAMETER", "Specified fingerprint %q is invalid: give SHA256:… as shown by selfListEgressKeys", in.ForceKey)
	case in.ForcePassword != "" && !cryptHashRe.MatchString(in.ForcePassword):
		return s, coded("ERR_INVALID_PARAMETER", "Specified hash is invalid: give one of the hashes shown by selfListPasswords")
	}
	s.ForceKey, s.ForcePassword = in.ForceKey, in.ForcePassword
	switch {
	case len(in.Protocols) > 1:
		return s, coded("ERR_INCOMPATIBLE_PARAMETERS", "Only one of --scpup, --scpdown, --sftp, --rsync, --forward and --remote-forward may be given at a time")
	case len(in.Protocols) == 1 && access.IsForward(in.Protocols[0]) && (in.PortAny || in.Port == "" || in.Port == "*"):
		return s, coded("ERR_MISSING_PARAMETER", "A --%s grant names its port: give --port PORT (forwarding is granted port by port)", in.Protocols[0])
	case len(in.Protocols) == 1 && (in.User != "" || in.UserAny):
		return s, coded("ERR_INCOMPATIBLE_PARAMETERS", "A protocol (--%s) is granted for any remote user: --user and --user-any cannot be given with it", in.Protocols[0])
	case len(in.Protocols) == 1:
		in.User = access.ProtocolUser(in.Protocols[0])
	}
	if in.User == "*" {
		in.User, in.UserAny = "", true
	}
	switch {
	case in.User != "" && in.UserAny:
		return s, coded("ERR_INCOMPATIBLE_PARAMETERS", "A user was given with --user along with --user-any: they contradict each other, please check your command")
	case in.User == "" && !in.UserAny:
		return s, coded("ERR_MISSING_PARAMETER", "No user specified: give --user USER, or --user-any to allow any remote user")
	case len(in.Protocols) == 1:
		s.User = in.User
	case in.User != "":
		if err := access.ValidateRemoteUser(in.User, wildcards); err != nil {
			return s, coded("KO_INVALID_REMOTE_USER", "%v", err)
		}
		s.User = in.User
	}
	if in.Port == "*" {
		in.Port, in.PortAny = "", true
	}
	switch {
	case in.Port != "" && in.PortAny:
		return s, coded("ERR_INCOMPATIBLE_PARAMETERS", "A port was given with --port along with --port-any: they contradict each other, please check your command")
	case in.Port == "" && !in.PortAny:
		return s, coded("ERR_MISSING_PARAMETER", "No port specified: give --port PORT, or --port-any to allow any remote port")
	case in.Port != "":
		p, err := access.ValidatePort(in.Port)
		if err != nil {
			return s, coded("KO_INVALID_PORT", "%v", err)
		}
		s.Port = p
	}
	return s, nil
}

// ParseACL reads the ACLOptions of a command (see CheckACL).
func ParseACL(c *osh.Call, adding, wildcards bool) (ACLSpec, *osh.Result) {
	w4, w6 := widest(c)
	s, cerr := CheckACL(ACLInput{
		Host: c.Args.String("host"), User: c.Args.String("user"), UserAny: c.Args.Has("user-any"),
		Port: c.Args.String("port"), PortAny: c.Args.Has("port-any"), Force: c.Args.Has("force"),
		Protocols: protocolFlags(c), WidestV4: w4, WidestV6: w6,
		ForceKey: c.Args.String("force-key"), ForcePassword: c.Args.String("force-password"),
	}, adding, wildcards)
	if cerr != nil {
		r := Failure(cerr.Code, "%s", cerr.Message)
		if cerr.Code == "KO_INVALID_IP" || cerr.Code == "KO_INVALID_REMOTE_HOST" {
			r.Exit = refusal.ExitInvalidHost // The Bastion's EXIT_INVALID_REMOTE_HOST, 128
		}
		return s, r
	}
	if c.Args.Has("ttl") {
		if s.TTL = c.Args.Duration("ttl"); s.TTL <= 0 {
			return s, Failure("ERR_INVALID_PARAMETER", "--ttl must be positive (e.g. 3600 or 1d)")
		}
	}
	s.Comment = c.Args.String("comment")
	return s, nil
}

func protocolFlags(c *osh.Call) []access.Protocol {
	var out []access.Protocol
	for _, p := range access.Protocols {
		if c.Args.Has(string(p)) {
			out = append(out, p)
		}
	}
	return out
}

// Entry turns the spec into a store entry added by `by` at now.
func (s ACLSpec) Entry(kind, owner, account, by string, now time.Time) store.ACLEntry {
	e := store.ACLEntry{Kind: kind, Owner: owner, Account: account, Host: s.Host.String(), User: s.User, Port: s.Port,
		Comment: s.Comment, AddedBy: by, AddedAt: now.UTC(), ForceKey: s.ForceKey, ForcePassword: s.ForcePassword}
	if s.TTL > 0 {
		e.ExpiresAt = now.UTC().Add(s.TTL)
	}
	return e
}

// Machine is user@host:port as The Bastion prints an access, "*" standing for any.
func (s ACLSpec) Machine() string { return machine(s.Host.String(), s.User, s.Port) }

func machine(host, user string, port int) string {
	if user == "" {
		user = "*"
	}
	p := "*"
	if port != 0 {
		p = strconv.Itoa(port)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return user + "@" + host + ":" + p
}

// Value is the JSON of an access just added or removed: ip, user and port (null for any), ttl in
// seconds (null when none) and comment.
func (s ACLSpec) Value() map[string]any {
	v := map[string]any{"ip": s.Host.String(), "user": nil, "port": nil, "ttl": nil, "comment": s.Comment}
	if s.User != "" {
		v["user"] = s.User
	}
	if s.Port != 0 {
		v["port"] = s.Port
	}
	if s.TTL > 0 {
		v["ttl"] = int64(s.TTL / time.Second)
	}
	if s.ForceKey != "" {
		v["forceKey"] = s.ForceKey
	}
	if s.ForcePassword != "" {
		v["forcePassword"] = s.ForcePassword
	}
	if dir := forwardOf(s.User); dir != "" {
		v["forward"] = dir
	}
	return v
}

// Covers reports whether the group entry g allows every target the guest access s allows: The
// Bastion only lets a gatekeeper give a guest what the group itself reaches. A prefix covers
// the addresses and smaller prefixes inside it; any user or port covers all; a user pattern
// covers the users it matches; a host name covers only itself. Expired entries cover nothing.
func Covers(g access.Entry, s ACLSpec, now time.Time) bool {
	if g.Expired(now) {
		return false
	}
	if g.Port != 0 && g.Port != s.Port {
		return false
	}
	switch {
	case strings.HasPrefix(s.User, "!") || strings.HasPrefix(g.User, "!"):
		// A protocol grant (access.ProtocolUser) is covered only by the same protocol grant,
		// and covers no SSH access.
		if g.User != s.User {
			return false
		}
	case g.User == "" || g.User == "*":
	case s.User == "":
		return false
	case strings.ContainsAny(g.User, "*?"):
		if ok, err := path.Match(g.User, s.User); err != nil || !ok {
			return false
		}
	case g.User != s.User:
		return false
	}
	gh, err := access.ParseHost(g.Host)
	if err != nil {
		return false
	}
	if gh.Kind == access.HostName || s.Host.Kind == access.HostName {
		return gh.Kind == s.Host.Kind && gh.Name == s.Host.Name
	}
	return s.Host.Prefix.Bits() >= gh.Prefix.Bits() && gh.Prefix.Contains(s.Host.Prefix.Addr()) &&
		s.Host.Prefix.Addr().Is4() == gh.Prefix.Addr().Is4()
}

// ACLValue renders entries as The Bastion's ACL JSON, skipping those expired at now: ip, user
// and port (null for any), comment, addedBy, addedDate ("YYYY-MM-DD HH:MM:SS" UTC) and expiry
// (Unix seconds, null for never).
func ACLValue(entries []access.Entry, now time.Time) []map[string]any {
	out := []map[string]any{}
	for _, e := range entries {
		if e.Expired(now) {
			continue
		}
		v := map[string]any{"ip": e.Host, "user": nil, "port": nil, "comment": e.Comment, "addedBy": e.AddedBy,
			"addedDate": e.AddedAt.UTC().Format("2006-01-02 15:04:05"), "expiry": nil}
		if e.User != "" {
			v["user"] = e.User
		}
		if e.Port != 0 {
			v["port"] = e.Port
		}
		if !e.Expiry.IsZero() {
			v["expiry"] = e.Expiry.Unix()
		}
		v["forceKey"], v["forcePassword"] = nilIfEmpty(e.ForceKey), nilIfEmpty(e.ForcePassword)
		if dir := forwardOf(e.User); dir != "" {
			v["forward"] = dir
		}
		out = append(out, v)
	}
	return out
}

// PrintACLHeader prints the column titles of PrintACL.
func PrintACLHeader(p *osh.Printer) {
	p.Line("%-20s %-7s %-14s %-26s %-14s %-19s %-19s %s", "IP", "PORT", "USER", "ACCESS-BY", "ADDED-BY", "ADDED-AT", "EXPIRES-AT", "COMMENT")
}

// PrintACL prints one line per entry not expired at now, as The Bastion's print_acls does, by
// being "group(type)" or "personal"; it returns how many it printed.
func PrintACL(p *osh.Printer, by string, entries []access.Entry, now time.Time) int {
	n := 0
	for _, e := range entries {
		if e.Expired(now) {
			continue
		}
		// "*" where the access allows any user or port, as The Bastion's lists print it.
		user, port, exp := osh.AnyOr(e.User), "*", "-"
		if e.Port != 0 {
			port = strconv.Itoa(e.Port)
		}
		if !e.Expiry.IsZero() {
			exp = e.Expiry.UTC().Format("2006-01-02 15:04:05")
		}
		p.Line("%-20s %-7s %-14s %-26s %-14s %-19s %-19s %s", e.Host, port, user, by, dash(e.AddedBy),
			e.AddedAt.UTC().Format("2006-01-02 15:04:05"), exp, e.Comment)
		n++
	}
	return n
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// HostPort is host:port in known_hosts form, the key internal/egress records host keys under
// (knownhosts.Normalize): "10.0.0.5" for port 22, "[10.0.0.5]:2222" otherwise.
func HostPort(host string, port int) string {
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	return knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
}

// AddACL stores e; it reports false when the same access already exists. An identical entry that
// has expired is replaced, so an expired access can be granted again.
func AddACL(ctx context.Context, st store.Store, e store.ACLEntry, now time.Time) (bool, error) {
	_, err := st.AddACL(ctx, e)
	if !errors.Is(err, store.ErrExists) {
		return err == nil, err
	}
	list, lerr := st.ListACL(ctx, e.Kind, e.Owner, e.Account)
	if lerr != nil {
		return false, lerr
	}
	for _, x := range list {
		if x.Host == e.Host && x.User == e.User && x.Port == e.Port && !x.ExpiresAt.IsZero() && !now.Before(x.ExpiresAt) {
			if err := st.DeleteACL(ctx, x); err != nil {
				return false, err
			}
			_, err = st.AddACL(ctx, e)
			return err == nil, err
		}
	}
	return false, nil
}

// Entries converts store entries for the access package.
func Entries(list []store.ACLEntry) []access.Entry {
	out := make([]access.Entry, 0, len(list))
	for _, e := range list {
		out = append(out, accessdb.Entry(e))
	}
	return out
}

// HostPortOptions are --host and --port of the host key commands.
var HostPortOptions = []osh.Option{
	{Name: "host", Kind: osh.String, Help: "the server's IP or host name, as you connect to it"},
	{Name: "port", Kind: osh.String, Help: "the server's SSH port (default 22)"},
}

// ParseHostPort reads --host (an IP or a name, not a network) and --port (default 22) and returns
// them in known_hosts form (see HostPort).
func ParseHostPort(c *osh.Call) (host string, port int, hostport string, r *osh.Result) {
	in := ACLInput{Host: c.Args.String("host"), UserAny: true, Port: c.Args.String("port")}
	if in.Port == "" {
		in.Port = "22"
	}
	s, cerr := CheckACL(in, false, false)
	if cerr != nil {
		return "", 0, "", Failure(cerr.Code, "%s", cerr.Message)
	}
	if s.Host.Kind == access.HostPrefix {
		return "", 0, "", Failure("KO_INVALID_IP", "%s is a network: give the address or the name of one server", s.Host)
	}
	return s.Host.String(), s.Port, HostPort(s.Host.String(), s.Port), nil
}

// AccessesValue renders an account's accesses as The Bastion's get_acls does: a list of {type,
// group, acl} with type personal (group null), group-member or group-guest, each acl as ACLValue.
// It prints them as a table and returns how many entries it listed.
func AccessesValue(p *osh.Printer, in accessdb.Inputs, now time.Time, f AccessFilter) ([]map[string]any, int) {
	out := []map[string]any{}
	n := 0
	add := func(typ string, group any, by string, acl []access.Entry) {
		if f.HideGroups && typ != "personal" {
			return
		}
		v, shown := f.Rows(acl, by, now)
		if len(v) == 0 {
			return
		}
		if n == 0 {
			PrintACLHeader(p)
		}
		n += PrintACL(p, by, shown, now)
		out = append(out, map[string]any{"type": typ, "group": group, "acl": v})
	}
	add("personal", nil, "personal", in.Personal)
	groups := slices.Clone(in.Groups)
	slices.SortFunc(groups, func(a, b access.Group) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range groups {
		switch {
		case slices.Contains(g.Members, in.Account.Name):
			add("group-member", g.Name, g.Name+"(group-member)", g.Servers)
		case len(g.Guests[in.Account.Name]) > 0:
			add("group-guest", g.Name, g.Name+"(group-guest)", g.Guests[in.Account.Name])
		}
	}
	return out, n
}

// AccessFilter is what the access listings leave out, as The Bastion's options say:
// --hide-groups (only the personal accesses) and --include/--exclude (Patterns, on every cell
// of a line, as groupListServers).
type AccessFilter struct {
	HideGroups bool
	Patterns   Patterns
	// Reverse, when set (--reverse-dns), names an IP ("" when it has no name).
	Reverse func(ip string) string
}

// Rows applies f to one list of accesses (listed "by"): the value of the entries kept
// (ACLValue, each with reverseDns, null when not asked or not found) and the rows as shown.
// With --reverse-dns the host's name stands for its IP in the table and for
// --include/--exclude, as The Bastion's; the value keeps the IP.
func (f AccessFilter) Rows(acl []access.Entry, by string, now time.Time) ([]map[string]any, []access.Entry) {
	var kept, shown []access.Entry
	var names []any
	for _, e := range acl {
		if e.Expired(now) {
			continue
		}
		row, name := e, any(nil)
		if f.Reverse != nil {
			if h := f.Reverse(e.Host); h != "" {
				row.Host, name = h, h
			}
		}
		if !f.Patterns.Keep(ACLCells(row, by)...) {
			continue
		}
		kept, shown, names = append(kept, e), append(shown, row), append(names, name)
	}
	v := ACLValue(kept, now)
	for i := range v {
		v[i]["reverseDns"] = names[i]
	}
	return v, shown
}

// ReverseOption is --reverse-dns, for the listings that take it without --hide-groups.
var ReverseOption = osh.Option{Name: "reverse-dns", Kind: osh.Flag, Help: "show the servers' names from reverse DNS (slow: one lookup per address)"}

// AccessListOptions are the options of the access listings (selfListAccesses,
// accountListAccesses) beside the account.
var AccessListOptions = append([]osh.Option{
	{Name: "hide-groups", Kind: osh.Flag, Help: "don't show the servers reached through group rights"},
	ReverseOption,
}, PatternOptions...)

// AccessFilterOf reads AccessListOptions from a call.
func AccessFilterOf(ctx context.Context, c *osh.Call) (AccessFilter, *osh.Result) {
	pat, r := PatternsOf(c)
	if r != nil {
		return AccessFilter{}, r
	}
	f := AccessFilter{HideGroups: c.Args.Has("hide-groups"), Patterns: pat}
	if c.Args.Has("reverse-dns") {
		f.Reverse = ReverseDNS(ctx, 2*time.Second)
	}
	return f, nil
}

// ReverseDNS returns a lookup of an address's first name (without its final dot), each
// address asked once, each lookup bounded by timeout; a prefix or an address without a name
// gives "".
func ReverseDNS(ctx context.Context, timeout time.Duration) func(ip string) string {
	seen := map[string]string{}
	return func(ip string) string {
		if name, ok := seen[ip]; ok {
			return name
		}
		name := ""
		if net.ParseIP(ip) != nil {
			lctx, cancel := context.WithTimeout(ctx, timeout)
			names, err := net.DefaultResolver.LookupAddr(lctx, ip)
			cancel()
			if err == nil && len(names) > 0 {
				name = strings.TrimSuffix(names[0], ".")
			}
		}
		seen[ip] = name
		return name
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// forwardOf is the direction a forwarding grant's pseudo user stands for, as the JSON shows it
// beside the user: "local" (--forward: ssh -L and -D) or "remote" (--remote-forward: ssh -R);
// "" for any other entry.
func forwardOf(user string) string {
	switch user {
	case access.ProtocolUser(access.ProtoForward):
		return access.ForwardLocal.String()
	case access.ProtocolUser(access.ProtoRemoteForward):
		return access.ForwardRemote.String()
	}
	return ""
}
