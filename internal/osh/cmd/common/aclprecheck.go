package common

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/egress"
	"gatehouse/internal/osh"
	"gatehouse/internal/refusal"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// What happens to a server or a personal access between its validation and the store, as The
// Bastion does it: a host name is resolved to an IP (dnsSupportLevel), then the connection is
// tried with the egress keys the access will use, unless --force.

// ExitDNSDisabled is The Bastion's EXIT_DNS_DISABLED.
const ExitDNSDisabled = 132

// widest returns the widest prefixes the command may add ([plugin.NAME] widest_v4_prefix).
func widest(c *osh.Call) (v4, v6 int) {
	if c.Cmd == nil || c.Env == nil || c.Env.Config == nil {
		return 0, 0
	}
	p := c.Cfg().Plugin[c.Cmd.Name]
	return p.WidestV4Prefix, p.WidestV6Prefix
}

// resolveTimeout bounds one resolution, as The Bastion's ssh ConnectTimeout bounds its test.
const resolveTimeout = 5 * time.Second

// ResolveHost turns a host name into the IP it is stored as (The Bastion stores IPs; the name
// goes in the comment when none is given). An IP or a prefix is left as it is.
func ResolveHost(ctx context.Context, c *osh.Call, spec *ACLSpec) *osh.Result {
	switch access.DecideDNS(spec.Host, c.Cfg().DNSSupportLevel) {
	case access.DNSNone:
		return nil
	case access.DNSRefuse:
		r := osh.Fail("", "ERR_DNS_DISABLED", "DNS resolving is disabled on this bastion: give %s's IP address instead", spec.Host.Name)
		r.Exit = ExitDNSDisabled
		return &r
	}
	name := spec.Host.Name
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", name)
	ip, ok := access.PickResolved(addrs)
	if err != nil || !ok {
		r := osh.Fail("", "KO_INVALID_REMOTE_HOST", "Remote host name '%s' couldn't be resolved", name)
		r.Exit = refusal.ExitInvalidHost
		return &r
	}
	spec.Host = access.Host{Kind: access.HostIP, Prefix: netip.PrefixFrom(ip, ip.BitLen())}
	if spec.Comment == "" {
		spec.Comment = "hostname=" + name
	}
	return nil
}

// TestStep is what the connection test of an access to be added does.
type TestStep int

const (
	TestConnect  TestStep = iota // connect with the egress keys, refuse on failure
	TestForced                   // --force: not tried ("Forcing add as asked …")
	TestSubnet                   // a prefix cannot be tried
	TestMagic                    // any user, or a protocol entry: no real user to try
	TestNotAHost                 // a host name left unresolved: nothing to dial
)

// DecideTest says whether adding spec tries the connection first (pure).
func DecideTest(spec ACLSpec, force bool) TestStep {
	switch {
	case force:
		return TestForced
	case spec.Host.Kind == access.HostPrefix:
		return TestSubnet
	case spec.Host.Kind != access.HostIP:
		return TestNotAHost
	case spec.User == "" || strings.ContainsAny(spec.User, "*?") || strings.HasPrefix(spec.User, "!"):
		return TestMagic
	}
	return TestConnect
}

// testTimeout is The Bastion's "timeout 6 ssh -o ConnectTimeout=5".
const testTimeout = 6 * time.Second

// TestConnection tries spec with the egress keys of ownerKind/owner (store.ACLGroup or
// store.ACLPersonal), as The Bastion's ssh_test_access_way does before an access is added. A
// nil result lets the add go on; the lines say what was (not) tried.
func TestConnection(ctx context.Context, c *osh.Call, ownerKind, owner string, spec ACLSpec, force bool) *osh.Result {
	switch DecideTest(spec, force) {
	case TestForced:
		c.P.Line("Forcing add as asked, we didn't test the SSH connection, maybe it won't work!")
		return nil
	case TestSubnet:
		c.P.Line("Can't test a connection to a subnet, assuming it's OK")
		return nil
	case TestMagic:
		c.P.Line("Didn't really test the connection, as the specified user is special")
		return nil
	case TestNotAHost:
		return nil
	}
	if spec.ForcePassword != "" {
		c.P.Line("Didn't test the connection: this access logs in with a password")
		return nil
	}
	kind := "account"
	if ownerKind == store.ACLGroup {
		kind = "group"
	}
	keys, err := c.Env.Store.ListEgressKeys(ctx, kind, owner)
	if err != nil {
		return Failure("ERR_INTERNAL", "cannot read the egress keys of %s: %v", owner, err)
	}
	var signers []ssh.Signer
	for _, k := range keys {
		if spec.ForceKey != "" && k.Fingerprint != spec.ForceKey {
			continue
		}
		pem, err := c.Env.Sealer.Open(seal.PurposeEgressKey, k.Sealed)
		if err != nil {
			return Failure("ERR_INTERNAL", "cannot open the egress key %s: %v", k.Fingerprint, err)
		}
		s, err := egress.ParseSigner(pem)
		if err != nil {
			return Failure("ERR_INTERNAL", "cannot use the egress key %s: %v", k.Fingerprint, err)
		}
		signers = append(signers, s)
	}
	if len(signers) == 0 && spec.ForceKey != "" {
		return Failure("KO_NO_MATCHING_KEY", "Couldn't find any key with the fingerprint you specified")
	}
	if len(signers) == 0 {
		c.P.Line("Couldn't find any accessible SSH key to test connection with, nevermind, will continue")
		return nil
	}
	ip := spec.Host.Prefix.Addr().String()
	port := spec.Port
	if port == 0 {
		port = 22
	}
	c.P.Line("Testing connection to %s@%s, please wait...", spec.User, ip)
	tctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	// The Bastion tests with UserKnownHostsFile=/dev/null StrictHostKeyChecking=no: the test
	// proves the key is installed, the host key is checked when people connect.
	d := egress.Dialer{DialTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second}
	conn, err := d.Dial(tctx, egress.Target{User: spec.User, Host: ip, Port: port}, signers, egress.HostKeyPolicy{Mode: egress.HostKeyBypass})
	if err == nil {
		_ = conn.Close()
		return nil
	}
	msg := fmt.Sprintf("Couldn't connect to %s@%s (ssh returned error %d)", spec.User, ip, egress.ExitStatus)
	var de *egress.DialError
	if errors.As(err, &de) {
		switch de.Reason {
		case egress.ReasonTimeout, egress.ReasonUnreachable:
			msg += ". Hint: did you remotely allow this bastion to access the SSH port?"
		case egress.ReasonAuth:
			msg += ". Hint: did you add the proper public key to the remote's authorized_keys?"
		}
	}
	c.P.Line("Note: if you still want to add this access even if it doesn't work, use --force")
	return Failure("ERR_CONNECTION_FAILED", "%s", msg)
}
