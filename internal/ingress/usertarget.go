package ingress

// The target in the user name (`ssh -p 2222 'alice:root@10.0.0.5'@bastion`, as Warpgate users
// know it), for clients that cannot ProxyJump: the SSH user name carries the gatehouse account,
// then the target. The account authenticates as usual (key, immediate factors); each session
// channel of such a connection is then served as a ProxyJump's inner session to that one target
// (jumpChannel): exec, shell and the sftp subsystem become `user@host -p port [-- CMD]` and go
// through the same access decision, MFA, protocol grants, recording and audit.
//
// Syntax: ACCOUNT:USER@HOST[:PORT], with an IPv6 address in brackets when a port follows
// (alice:root@[2001:db8::1]:2022); an IPv6 address alone needs none (alice:root@2001:db8::1).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/store"
)

// maxUserTargetLen bounds the whole user name: an account (28), a remote user (128), a host
// name (253), a port and separators fit well under it.
const maxUserTargetLen = 512

// UserTarget is what a user name asks for: the gatehouse account, and, when Target.Host is
// set, the remote user and the target every session of the connection goes to.
type UserTarget struct {
	Account string
	User    string
	Target  JumpTarget
}

// HasTarget says whether the name carried a target.
func (u UserTarget) HasTarget() bool { return u.Target.Host != "" }

// ParseUserTarget splits an SSH user name. A name without ':' is an account alone (validated
// later, as every login name is). A name with ':' must be ACCOUNT:USER@HOST[:PORT] whole and
// valid, or it is refused: no part is guessed.
func ParseUserTarget(name string) (UserTarget, error) {
	account, rest, ok := strings.Cut(name, ":")
	if !ok {
		return UserTarget{Account: name}, nil
	}
	if len(name) > maxUserTargetLen {
		return UserTarget{}, fmt.Errorf("user name longer than %d bytes", maxUserTargetLen)
	}
	if err := access.ValidateAccountName(account); err != nil {
		return UserTarget{}, err
	}
	user, hostport, ok := strings.Cut(rest, "@")
	if !ok {
		return UserTarget{}, errors.New("a target in the user name is ACCOUNT:USER@HOST[:PORT] (the remote user is missing)")
	}
	if err := access.ValidateRemoteUser(user, false); err != nil {
		return UserTarget{}, err
	}
	host, port, err := splitTargetHostPort(hostport)
	if err != nil {
		return UserTarget{}, err
	}
	if err := validJumpHost(host); err != nil {
		return UserTarget{}, err
	}
	return UserTarget{Account: account, User: user, Target: JumpTarget{Host: host, Port: port}}, nil
}

// splitTargetHostPort reads HOST, HOST:PORT, [IPV6], [IPV6]:PORT or a bare IPv6 address.
func splitTargetHostPort(s string) (string, int, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("unclosed '[' in the target")
		}
		host, after := s[1:end], s[end+1:]
		if _, err := netip.ParseAddr(host); err != nil || !strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
		if after == "" {
			return host, 22, nil
		}
		if after[0] != ':' {
			return "", 0, fmt.Errorf("unexpected %q after the IPv6 address", after)
		}
		p, err := parseTargetPort(after[1:])
		return host, p, err
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Is6() {
		return s, 22, nil // a bare IPv6 address: its colons are not a port
	}
	host, ps, ok := strings.Cut(s, ":")
	if !ok {
		return s, 22, nil
	}
	p, err := parseTargetPort(ps)
	return host, p, err
}

// parseTargetPort accepts 1 to 65535 in plain decimal digits (no sign, no spaces, at most 5).
func parseTargetPort(s string) (int, error) {
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad port %q in the target", s)
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q in the target", s)
	}
	return p, nil
}

// validJumpHost accepts an IP address or a host name (no prefix, wildcard, quote or space),
// as a jump's direct-tcpip target: the host becomes a word of a command line.
func validJumpHost(host string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if len(host) > 253 {
		return errors.New("host name too long")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		if strings.Contains(host, "%") { // a zone names an interface of the bastion
			return fmt.Errorf("%q: an address with a zone is not a target", host)
		}
		return nil
	}
	h, err := access.ParseHost(host)
	if err != nil || h.Kind != access.HostName {
		return fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return nil
}

// accountOf is the account a connection authenticated as: the account part of its user name
// (bound in its permissions when the key was verified or the factors passed).
func accountOf(conn *ssh.ServerConn) string { return conn.Permissions.Extensions[extAccount] }

// accountMeta is a connection's metadata as the authentication callbacks must see it: the
// user is the account, whatever target the name carried.
type accountMeta struct {
	ssh.ConnMetadata
	account string
}

func (m accountMeta) User() string { return m.account }

// asAccount gives the callbacks the account of conn's user name; a name with a bad target is
// an error (the login is refused).
func asAccount(conn ssh.ConnMetadata) (ssh.ConnMetadata, error) {
	ut, err := ParseUserTarget(conn.User())
	if err != nil {
		return conn, err
	}
	if !ut.HasTarget() {
		return conn, nil
	}
	return accountMeta{ConnMetadata: conn, account: ut.Account}, nil
}

// extTargetFactors holds, on a connection authenticated for a fixed target, the factors its
// target's JIT MFA asked on the client's own prompt (comma-separated; absent: none asked).
const extTargetFactors = "gatehouse-target-factors"

// withTargetFactors chains the target's JIT factors (TargetAuth) after what authentication
// returned so far (p, err): when the target needs none, p and err are returned as they are;
// else keyboard-interactive asks them, after the login's own factors when those are asked too.
func (s *Server) withTargetFactors(ctx context.Context, conn ssh.ConnMetadata, a store.Account, user string, t JumpTarget, p *ssh.Permissions, err error) (*ssh.Permissions, error) {
	if s.TargetAuth == nil {
		return p, err
	}
	var partial *ssh.PartialSuccessError
	if err != nil && !errors.As(err, &partial) {
		return p, err
	}
	required, ok := s.targetRequirements(ctx, a, user, t)
	if !ok {
		return p, err // refused or unresolvable: the session says why
	}
	ask := s.TargetAuth(ctx, conn, a, required, JumpLine(user, t, ""))
	if ask == nil {
		return p, err
	}
	// Once the target's factors were refused on this connection (a denied approval, a wrong or
	// expired code), the client's automatic retries of keyboard-interactive are refused without
	// asking again: a denial stays final (no new approval request for someone else to accept),
	// and the team's chat gets no request nobody asked for.
	var refused atomic.Bool
	answer := func(p *ssh.Permissions, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		if refused.Load() {
			return nil, errAuth
		}
		names, err := ask(client)
		if err != nil {
			refused.Store(true)
			return nil, errAuth
		}
		if p.Extensions == nil {
			p.Extensions = map[string]string{}
		}
		p.Extensions[extTargetFactors] = strings.Join(names, ",")
		return p, nil
	}
	if partial == nil {
		return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
			KeyboardInteractiveCallback: func(_ ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
				return answer(p, client)
			}}}
	}
	first := partial.Next.KeyboardInteractiveCallback
	if first == nil {
		return p, err
	}
	partial.Next.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		p, err := first(c, client)
		if err != nil {
			return nil, err
		}
		return answer(p, client)
	}
	return nil, partial
}

// targetRequirements are the MFA requirements of the accesses that let account a reach user@t
// (access.Decide, as the connector decides when the session runs); ok is false when it would
// be refused, or the host does not resolve.
func (s *Server) targetRequirements(ctx context.Context, a store.Account, user string, t JumpTarget) (required []string, ok bool) {
	in, tgt, err := s.targetInputs(ctx, a, user, t)
	if err != nil {
		return nil, false
	}
	d, err := access.Decide(s.env.Deps().Now(), in.Account, in.Groups, in.Personal, tgt)
	if err != nil {
		return nil, false
	}
	for _, m := range d.MFA() {
		required = append(required, string(m))
	}
	return required, true
}

// targetInputs loads the access decision's inputs for account a and the target.
func (s *Server) targetInputs(ctx context.Context, a store.Account, user string, t JumpTarget) (accessdb.Inputs, access.Target, error) {
	tgt, err := resolveTarget(ctx, user, t)
	if err != nil {
		return accessdb.Inputs{}, access.Target{}, err
	}
	in, err := accessdb.Load(ctx, s.env.Deps().Store, a)
	if err != nil {
		return accessdb.Inputs{}, access.Target{}, errAccessesUnread
	}
	return in, tgt, nil
}

//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
var errAccessesUnread = errors.New("Access denied: the bastion could not read your accesses, try again later")

// resolveTarget is the decision's target for user on t: its address resolved here, bounded
// in time.
func resolveTarget(ctx context.Context, user string, t JumpTarget) (access.Target, error) {
	ip, err := netip.ParseAddr(t.Host)
	if err != nil {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, lerr := net.DefaultResolver.LookupNetIP(rctx, "ip", t.Host)
		cancel()
		if lerr != nil || len(addrs) == 0 {
			//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
			return access.Target{}, fmt.Errorf("Unable to resolve host '%s'", t.Host)
		}
		ip = addrs[0]
	}
	return access.Target{User: user, Host: t.Host, IP: ip.Unmap(), Port: t.Port}, nil
}

type answeredKey struct{}

// withAnswered carries the factors perms says were answered for the connection's target.
func withAnswered(ctx context.Context, perms *ssh.Permissions) context.Context {
	if perms == nil {
		return ctx
	}
	v, ok := perms.Extensions[extTargetFactors]
	if !ok || v == "" {
		return ctx
	}
	return context.WithValue(ctx, answeredKey{}, strings.Split(v, ","))
}

// answeredFrom is what withAnswered put in ctx (nil: none).
func answeredFrom(ctx context.Context) []string {
	v, _ := ctx.Value(answeredKey{}).([]string)
	return v
}
