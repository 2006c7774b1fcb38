package access

import (
	"fmt"
	"time"
)

// ForwardDirection is which way a port forward goes, as OpenSSH names them.
type ForwardDirection int

const (
	// ForwardLocal is ssh -L and ssh -D: the client opens a direct-tcpip channel and the bastion
	// connects to the host and port it names. The bastion cannot tell -L from -D (SOCKS is
	// spoken by the client), so one grant, --forward, covers both.
	ForwardLocal ForwardDirection = iota + 1
	// ForwardRemote is ssh -R: the client asks the target it is logged in to (through a
	// ProxyJump or the target in the user name) to listen on a port; connections made there
	// come back to the client. Granted by --remote-forward for that port on that target.
	ForwardRemote
	// ForwardThrough is ssh -L and ssh -D on a connection logged in to a target (a ProxyJump's
	// inner connection): as OpenSSH's server would, the TARGET connects to Dest, over the
	// bastion's egress connection to it. Granted by --forward for Dest's host and port, from
	// the same means as the SSH access to the target (the bastion logs in there first).
	ForwardThrough
)

func (d ForwardDirection) String() string {
	switch d {
	case ForwardLocal:
		return "local"
	case ForwardRemote:
		return "remote"
	case ForwardThrough:
		return "through"
	}
	return "unknown"
}

// ForwardRequest is what a forward asks for.
type ForwardRequest struct {
	Direction ForwardDirection
	// Target: for ForwardLocal, the host and port the bastion connects to (User is ignored);
	// for ForwardRemote and ForwardThrough, the SSH target the connection is logged in to
	// (user@host:port), which the bastion logs in to with the egress keys.
	Target Target
	// Dest is, for ForwardThrough, the host and port the target connects to (User ignored). A
	// destination on the target's own loopback is the target itself: the caller passes the
	// target's host and address with the port (ingress.ThroughDest).
	Dest Target
	// BindPort is the port ForwardRemote asks the target to listen on (1 to 65535: 0, "any
	// port the target picks", is refused since forwarding is granted port by port).
	BindPort int
}

// DecideForwarding decides a port forward; pure (table: account flags × grants × ports ×
// direction). Account-wide refusals (an invalid name, frozen, TTL, --osh-only) are Decide's.
//
//   - ForwardLocal needs a --forward entry (pseudo user "!forward") for the target's host and
//     port, personal, as a member or as a guest (with the group's own entry). No SSH access is
//     involved: the bastion relays raw TCP and uses no key.
//   - ForwardThrough needs the SSH access to the target AND a --forward entry for Dest's host
//     and port, from the same means (a key in common), as ForwardRemote.
//   - ForwardRemote needs the SSH access to the target (the bastion logs in there to ask it to
//     listen) AND a --remote-forward entry (pseudo user "!remote-forward") for the target's
//     host and BindPort, from the same means (a key in common, as DecideProtocol requires).
//     The decision keeps only the keys in common, and the MFA requirements of both.
//
// Neither grant covers the other direction, an SSH session, or a transfer.
func DecideForwarding(now time.Time, acct Account, groups []Group, personal []Entry, r ForwardRequest) (Decision, error) {
	switch r.Direction {
	case ForwardLocal:
		t := r.Target
		t.User = "forward"
		return decidePseudo(now, acct, groups, personal, t, ProtoForward)
	case ForwardThrough:
		if r.Dest.Port < 1 || r.Dest.Port > 65535 {
			return Decision{}, &Refusal{Code: "KO_INVALID_PORT", Exit: ExitInvalidPort, Message: fmt.Sprintf("Access denied: port %d cannot be forwarded", r.Dest.Port)}
		}
		sshd, err := Decide(now, acct, groups, personal, r.Target)
		if err != nil {
			return Decision{}, err
		}
		dest := r.Dest
		dest.User = "forward"
		fwd, err := decidePseudo(now, acct, groups, personal, dest, ProtoForward)
		if err != nil {
			return Decision{}, err
		}
		return sameMeans(sshd, fwd, func() error {
			return &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied,
				Message: fmt.Sprintf("Access denied for %s to forward to %s through %s: the SSH access and the --forward grant come from distinct means (no key in common)",
					acct.Name, MachineDisplay("", dest.IP.String(), dest.Port), MachineDisplay(r.Target.User, r.Target.IP.String(), r.Target.Port))}
		})
	case ForwardRemote:
	default:
		return Decision{}, &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied, Message: "Access denied: unknown forwarding direction"}
	}
	if r.BindPort < 1 || r.BindPort > 65535 {
		// Checked before anything is loaded: a port the target would choose cannot be granted.
		return Decision{}, &Refusal{Code: "KO_INVALID_PORT", Exit: ExitInvalidPort,
			Message: fmt.Sprintf("Remote forwarding is granted port by port: listen port %d is not one (give -R PORT:HOST:HOSTPORT with a port from 1 to 65535)", r.BindPort)}
	}
	sshd, err := Decide(now, acct, groups, personal, r.Target)
	if err != nil {
		return Decision{}, err
	}
	bind := r.Target
	bind.Port, bind.User = r.BindPort, "remote-forward"
	fwd, err := decidePseudo(now, acct, groups, personal, bind, ProtoRemoteForward)
	if err != nil {
		return Decision{}, err
	}
	return sameMeans(sshd, fwd, func() error {
		return &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied,
			Message: fmt.Sprintf("Access denied for %s to forward port %d of %s: the SSH access and the --remote-forward grant come from distinct means (no key in common)",
				acct.Name, r.BindPort, MachineDisplay(r.Target.User, r.Target.IP.String(), r.Target.Port))}
	})
}

// sameMeans keeps, of the SSH access sshd and the forwarding grant fwd, the grants and keys
// they have in common (the MFA requirements of both stay); none in common is refused().
func sameMeans(sshd, fwd Decision, refused func() error) (Decision, error) {
	common := map[string]bool{}
	for _, k := range fwd.Keys() {
		common[keyID(k)] = true
	}
	var out Decision
	for _, list := range [][]Grant{sshd.Grants, fwd.Grants} {
		for _, g := range list {
			var keys []Key
			for _, k := range g.Keys {
				if common[keyID(k)] && keyIn(sshd, k) {
					keys = append(keys, k)
				}
			}
			if len(keys) == 0 {
				continue
			}
			g.Keys = keys
			out.Grants = append(out.Grants, g)
		}
	}
	if len(out.Keys()) == 0 {
		return Decision{}, refused()
	}
	return out, nil
}

// keyIn says whether d offers k.
func keyIn(d Decision, k Key) bool {
	for _, dk := range d.Keys() {
		if keyID(dk) == keyID(k) {
			return true
		}
	}
	return false
}
