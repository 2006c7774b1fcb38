package access

import (
	"fmt"
	"strings"
	"time"
)

// Protocol is a file transfer protocol that needs its own grant in addition to the SSH access,
// as The Bastion's --scpup, --scpdown, --sftp and --rsync.
type Protocol string

// The protocols, named as their options.
const (
	ProtoSCPUp   Protocol = "scpup"
	ProtoSCPDown Protocol = "scpdown"
	ProtoSFTP    Protocol = "sftp"
	ProtoRsync   Protocol = "rsync"
	// ProtoForward is port forwarding (ssh -L, -D) to the entry's host and port: the
	// connection is relayed as raw TCP, audited with its bytes (DecideForward).
	ProtoForward Protocol = "forward"
	// ProtoRemoteForward is remote port forwarding (ssh -R): the target the connection is
	// logged in to listens on the entry's port, and what connects there is relayed back to the
	// client (DecideForwarding, ForwardRemote).
	ProtoRemoteForward Protocol = "remote-forward"
)

// Protocols are every protocol, in the order the options are listed.
var Protocols = []Protocol{ProtoSCPUp, ProtoSCPDown, ProtoSFTP, ProtoRsync, ProtoForward, ProtoRemoteForward}

// IsForward says whether p is one of the forwarding grants (--forward, --remote-forward):
// granted port by port, never to oneself.
func IsForward(p Protocol) bool { return p == ProtoForward || p == ProtoRemoteForward }

// ProtocolUser is the pseudo remote user an ACL entry granting p holds, The Bastion's own
// ("!scpupload", "!scpdownload", "!sftp", "!rsync"). No remote user can start with "!"
// (ValidateRemoteUser), so such an entry never grants an SSH session, and a wildcard user
// never grants a protocol (DecideProtocol wants the pseudo user itself).
func ProtocolUser(p Protocol) string {
	switch p {
	case ProtoSCPUp:
		return "!scpupload"
	case ProtoSCPDown:
		return "!scpdownload"
	}
	return "!" + string(p)
}

// DecideProtocol says whether account may use protocol p towards t, besides its SSH access (which
// the caller decides with Decide): it needs an entry whose user is exactly ProtocolUser(p), in
// its personal accesses, or in a group it is a member of (the group's servers), or as a guest
// (the group's servers and the guest's accesses both). Account-wide refusals (frozen, TTL …)
// are Decide's. The decision's grants carry their MFA requirements as Decide's do.
func DecideProtocol(now time.Time, acct Account, groups []Group, personal []Entry, t Target, p Protocol) (Decision, error) {
	d, err := decidePseudo(now, acct, groups, personal, t, p)
	if err != nil {
		return d, err
	}
	// The SSH access and the protocol grant must come from the same means (at least one key in
	// common), as The Bastion requires: otherwise someone allowed selfAddPersonalAccess could
	// give themselves the protocol on a server they reach only through a group.
	ssh, err := Decide(now, acct, groups, personal, t)
	if err != nil {
		return Decision{}, err
	}
	mine := map[string]bool{}
	for _, k := range ssh.Keys() {
		mine[keyID(k)] = true
	}
	for _, k := range d.Keys() {
		if mine[keyID(k)] {
			return d, nil
		}
	}
	return Decision{}, &Refusal{Code: "KO_ACCESS_DENIED", Exit: ExitAccessDenied,
		Message: fmt.Sprintf("Access denied for %s to use %s on %s: the SSH access and the --%s grant come from distinct means (no key in common)",
			acct.Name, p, MachineDisplay(t.User, t.IP.String(), t.Port), p)}
}

// DecideForward says whether acct may forward a port (ssh -L, -D) to t's host and port: it
// needs a --forward entry (user ProtocolUser(ProtoForward)) for that host and port, personal,
// as a member or as a guest, as DecideProtocol looks for one; no SSH access is involved (the
// bastion relays raw TCP, no key is used). t.User is ignored.
func DecideForward(now time.Time, acct Account, groups []Group, personal []Entry, t Target) (Decision, error) {
	return DecideForwarding(now, acct, groups, personal, ForwardRequest{Direction: ForwardLocal, Target: t})
}

// decidePseudo decides t with only the entries whose user is exactly p's pseudo user.
func decidePseudo(now time.Time, acct Account, groups []Group, personal []Entry, t Target, p Protocol) (Decision, error) {
	pseudo := ProtocolUser(p)
	only := func(acl []Entry) []Entry {
		var out []Entry
		for _, e := range acl {
			if e.User == pseudo {
				e.User = t.User // the entry then matches the target's user, and only through this
				out = append(out, e)
			}
		}
		return out
	}
	gs := make([]Group, 0, len(groups))
	for _, g := range groups {
		g.Servers = only(g.Servers)
		guests := make(map[string][]Entry, len(g.Guests))
		for name, acl := range g.Guests {
			guests[name] = only(acl)
		}
		g.Guests = guests
		gs = append(gs, g)
	}
	d, err := Decide(now, acct, gs, only(personal), t)
	if err != nil {
		if r, ok := err.(*Refusal); ok && r.Code == "KO_ACCESS_DENIED" && !acct.OSHOnly {
			return d, &Refusal{Code: "KO_PROTOCOL_DENIED", Exit: ExitAccessDenied,
				Message: fmt.Sprintf("Access denied for %s to use %s on %s: ask for the --%s grant (in addition to the SSH access)",
					acct.Name, p, MachineDisplay(t.User, t.IP.String(), t.Port), p)}
		}
		return d, err
	}
	return d, nil
}

func keyID(k Key) string {
	if k.ID != "" {
		return k.ID
	}
	return "fp:" + k.Fingerprint
}

// TransferOf is the protocol a remote command line uses, "" for none: `scp -t` uploads,
// `scp -f` downloads, `rsync --server` (with --sender: a download) is rsync. Only the first word
// counts, as a path or a name: a shell line that runs scp further on is a shell session, which
// the SSH access alone allows.
func TransferOf(command string) Protocol {
	words := strings.Fields(command)
	if len(words) == 0 {
		return ""
	}
	name := words[0]
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	switch name {
	case "scp":
		for _, w := range words[1:] {
			if !strings.HasPrefix(w, "-") || w == "--" {
				break
			}
			// Combined flags (-pt, -rf …) as scp itself parses them.
			if strings.HasPrefix(w, "--") {
				continue
			}
			if strings.ContainsRune(w, 't') {
				return ProtoSCPUp
			}
			if strings.ContainsRune(w, 'f') {
				return ProtoSCPDown
			}
		}
		return "" // not the server side of a copy: a command run on the target
	case "rsync":
		if len(words) > 1 && words[1] == "--server" {
			return ProtoRsync
		}
	}
	return ""
}

// DecideTransfer is the protocol check of a remote command on every path (the plain
// `alice@bastion -- root@host CMD`, a jump, a target in the user name): the protocol the
// command uses (TransferOf), and DecideProtocol's refusal when the account lacks its grant. A
// command that is no transfer needs the SSH access alone: ("", nil). A subsystem (sftp, from
// The Bastion's `--osh sftp`) is the sftp protocol whatever the command.
func DecideTransfer(now time.Time, acct Account, groups []Group, personal []Entry, t Target, command, subsystem string) (Protocol, error) {
	p := TransferOf(command)
	if subsystem != "" {
		p = ProtoSFTP // the only subsystem relayed; any other is refused before this
	}
	if p == "" {
		return "", nil
	}
	_, err := DecideProtocol(now, acct, groups, personal, t, p)
	return p, err
}

// IsTransfer says whether a remote command (or a subsystem) is a file transfer: scp's or rsync's
// server side (TransferOf), or the sftp subsystem. What the recording keeps of it follows
// transferRecording.
func IsTransfer(command, subsystem string) bool {
	return subsystem == "sftp" || TransferOf(command) != ""
}
