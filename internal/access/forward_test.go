package access

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestDecideForwardingTable: every combination of account flags × grants × ports × direction.
// ssh -L/-D (local) needs a --forward entry for that host and port and nothing else; ssh -R
// (remote) needs the SSH access to the target it is logged in to and a --remote-forward entry
// for that listen port, from the same means; neither grant covers the other direction; port 0
// (the target's choice) is never granted; account gates refuse all.
func TestDecideForwardingTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.5")
	pk, gk := []Key{{ID: "p1"}}, []Key{{ID: "g1"}}
	const granted = 5432
	ssh := Entry{Host: "10.0.0.5", User: "root", Port: 22}
	local := Entry{Host: "10.0.0.5", User: "!forward", Port: granted}
	remote := Entry{Host: "10.0.0.5", User: "!remote-forward", Port: granted}
	member := func(servers ...Entry) []Group {
		return []Group{{Name: "g", Members: []string{"alice"}, Servers: servers, EgressKeys: gk}}
	}
	accounts := []struct {
		name string
		acct Account
		ok   bool
	}{
		{"active", Account{Name: "alice", EgressKeys: pk}, true},
		{"frozen", Account{Name: "alice", EgressKeys: pk, Frozen: true}, false},
		{"ttl expired", Account{Name: "alice", EgressKeys: pk, Expiry: now.Add(-time.Second)}, false},
		{"osh only", Account{Name: "alice", EgressKeys: pk, OSHOnly: true}, false},
	}
	grants := []struct {
		name      string
		personal  []Entry
		groups    []Group
		local, rm bool // what the grants allow: -L/-D to granted, -R on granted
		through   bool // -L/-D to granted inside a connection logged in to root@10.0.0.5
	}{
		{"nothing", nil, nil, false, false, false},
		{"ssh only", []Entry{ssh}, nil, false, false, false},
		{"ssh any user any port", []Entry{{Host: "10.0.0.5"}}, nil, false, false, false},
		{"forward", []Entry{local}, nil, true, false, false},
		{"ssh + forward", []Entry{ssh, local}, nil, true, false, true},
		{"remote-forward alone", []Entry{remote}, nil, false, false, false},
		{"ssh + remote-forward", []Entry{ssh, remote}, nil, false, true, false},
		{"ssh + both", []Entry{ssh, local, remote}, nil, true, true, true},
		{"group ssh + remote-forward", nil, member(ssh, remote), false, true, false},
		{"ssh personal, remote-forward by group", []Entry{ssh}, member(remote), false, false, false},
		{"ssh by group, remote-forward personal", []Entry{remote}, member(ssh), false, false, false},
		{"ssh + expired remote-forward", []Entry{ssh, {Host: "10.0.0.5", User: "!remote-forward", Port: granted, Expiry: now.Add(-time.Second)}}, nil, false, false, false},
		{"ssh + remote-forward on the network", []Entry{ssh, {Host: "10.0.0.0/24", User: "!remote-forward", Port: granted}}, nil, false, true, false},
		{"ssh + remote-forward any port", []Entry{ssh, {Host: "10.0.0.5", User: "!remote-forward"}}, nil, false, true, false},
		{"ssh + sftp", []Entry{ssh, {Host: "10.0.0.5", User: "!sftp", Port: granted}}, nil, false, false, false},
		{"guest ssh + remote-forward with the group's", nil, []Group{{Name: "g", EgressKeys: gk, Servers: []Entry{ssh, remote},
			Guests: map[string][]Entry{"alice": {ssh, remote}}}}, false, true, false},
		{"guest, group lacks remote-forward", nil, []Group{{Name: "g", EgressKeys: gk, Servers: []Entry{ssh},
			Guests: map[string][]Entry{"alice": {ssh, remote}}}}, false, false, false},
		{"group ssh + forward", nil, member(ssh, local), true, false, true},
		{"ssh personal, forward by group", []Entry{ssh}, member(local), true, false, false},
		{"ssh by group, forward personal", []Entry{local}, member(ssh), true, false, false},
		{"ssh + forward on the network", []Entry{ssh, {Host: "10.0.0.0/24", User: "!forward", Port: granted}}, nil, true, false, true},
		{"ssh + expired forward", []Entry{ssh, {Host: "10.0.0.5", User: "!forward", Port: granted, Expiry: now.Add(-time.Second)}}, nil, false, false, false},
		{"guest ssh + forward with the group's", nil, []Group{{Name: "g", EgressKeys: gk, Servers: []Entry{ssh, local},
			Guests: map[string][]Entry{"alice": {ssh, local}}}}, true, false, true},
		{"guest, group lacks forward", nil, []Group{{Name: "g", EgressKeys: gk, Servers: []Entry{ssh},
			Guests: map[string][]Entry{"alice": {ssh, local}}}}, false, false, false},
	}
	ports := []int{granted, granted + 1, 0}
	for _, a := range accounts {
		for _, g := range grants {
			for _, port := range ports {
				for _, dir := range []ForwardDirection{ForwardLocal, ForwardRemote, ForwardThrough} {
					var req ForwardRequest
					want := a.ok && port == granted
					switch dir {
					case ForwardLocal:
						req = ForwardRequest{Direction: dir, Target: Target{Host: "10.0.0.5", IP: ip, Port: port}}
						want = want && g.local
					case ForwardThrough:
						req = ForwardRequest{Direction: dir, Target: Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}, Dest: Target{Host: "10.0.0.5", IP: ip, Port: port}}
						want = want && g.through
					case ForwardRemote:
						req = ForwardRequest{Direction: dir, Target: Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}, BindPort: port}
						want = (want && g.rm) || (a.ok && port != granted && port != 0 && g.name == "ssh + remote-forward any port")
					}
					name := fmt.Sprintf("%s/%s/port %d/%s", a.name, g.name, port, dir)
					d, err := DecideForwarding(now, a.acct, g.groups, g.personal, req)
					if (err == nil) != want {
						t.Errorf("%s: err %v, want ok=%v", name, err, want)
						continue
					}
					var r *Refusal
					if err != nil && !errors.As(err, &r) {
						t.Errorf("%s: %v is not a refusal", name, err)
					}
					if err == nil && dir != ForwardLocal && len(d.Keys()) == 0 {
						t.Errorf("%s: granted with no key to log in to the target", name)
					}
				}
			}
		}
	}
}

// TestForwardGrantsGrantNothingElse: a forwarding entry of either direction is never an SSH
// session, a transfer, or the other direction.
func TestForwardGrantsGrantNothingElse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.5")
	acct := Account{Name: "alice", EgressKeys: []Key{{ID: "p1"}}}
	for _, user := range []string{"!forward", "!remote-forward"} {
		personal := []Entry{{Host: "10.0.0.5", User: user}}
		if _, err := Decide(now, acct, nil, personal, Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}); err == nil {
			t.Errorf("%s granted an SSH session", user)
		}
		for _, p := range []Protocol{ProtoSCPUp, ProtoSCPDown, ProtoSFTP, ProtoRsync} {
			if _, err := DecideProtocol(now, acct, nil, append(personal, Entry{Host: "10.0.0.5", User: "root"}), Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}, p); err == nil {
				t.Errorf("%s granted %s", user, p)
			}
		}
	}
	if _, err := DecideForwarding(now, acct, nil, nil, ForwardRequest{Direction: 0}); err == nil {
		t.Error("an unknown direction was granted")
	}
}

// TestDecideForwardThroughDest: inside a connection logged in to a target, -L/-D is decided on
// the destination the target connects to: a --forward grant for the target's port does not
// cover another host, nor another port; a port outside 1–65535 is refused before any lookup.
func TestDecideForwardThroughDest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t5, t6 := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")
	acct := Account{Name: "alice", EgressKeys: []Key{{ID: "p1"}}}
	personal := []Entry{{Host: "10.0.0.5", User: "root", Port: 22}, {Host: "10.0.0.5", User: "!forward", Port: 80}}
	target := Target{User: "root", Host: "10.0.0.5", IP: t5, Port: 22}
	for _, c := range []struct {
		name string
		dest Target
		ok   bool
	}{
		{"granted", Target{Host: "10.0.0.5", IP: t5, Port: 80}, true},
		{"another host, same port", Target{Host: "10.0.0.6", IP: t6, Port: 80}, false},
		{"another port", Target{Host: "10.0.0.5", IP: t5, Port: 81}, false},
		{"the SSH port itself", Target{Host: "10.0.0.5", IP: t5, Port: 22}, false},
		{"port 0", Target{Host: "10.0.0.5", IP: t5, Port: 0}, false},
		{"port 65536", Target{Host: "10.0.0.5", IP: t5, Port: 65536}, false},
	} {
		_, err := DecideForwarding(now, acct, nil, personal, ForwardRequest{Direction: ForwardThrough, Target: target, Dest: c.dest})
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
	// Without the SSH access to the target, the grant alone is nothing (the bastion cannot log in).
	if _, err := DecideForwarding(now, acct, nil, personal[1:], ForwardRequest{Direction: ForwardThrough, Target: target, Dest: Target{Host: "10.0.0.5", IP: t5, Port: 80}}); err == nil {
		t.Error("granted without the SSH access to the target")
	}
}
