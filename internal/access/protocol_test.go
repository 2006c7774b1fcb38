package access

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestDecideProtocolTable: a protocol needs an entry with its own pseudo user, from a source the
// account really holds (personal, member, guest with the group's own entry); SSH entries, even
// with any user, never grant a protocol, and a protocol entry never grants another protocol.
func TestDecideProtocolTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tgt := Target{User: "root", Host: "10.0.0.5", IP: netip.MustParseAddr("10.0.0.5"), Port: 22}
	pk, gk := []Key{{ID: "p1"}}, []Key{{ID: "g1"}}
	acct := Account{Name: "alice", EgressKeys: pk}
	e := func(user string) Entry { return Entry{Host: "10.0.0.5", User: user, Port: 22} }
	ssh := e("root") // the SSH access every case but the last ones also holds
	other := Entry{Host: "10.0.0.6", User: "!sftp", Port: 22}
	expired := Entry{Host: "10.0.0.5", User: "!sftp", Port: 22, Expiry: now.Add(-time.Second)}
	cases := []struct {
		name     string
		acct     Account
		personal []Entry
		groups   []Group
		proto    Protocol
		ok       bool
	}{
		{"personal sftp", acct, []Entry{ssh, e("!sftp")}, nil, ProtoSFTP, true},
		{"no ssh access", acct, []Entry{e("!sftp")}, nil, ProtoSFTP, false},
		{"personal sftp, ssh through a group only", acct, []Entry{e("!sftp")}, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{ssh}, EgressKeys: gk}}, ProtoSFTP, false},
		{"group sftp, ssh personal only", acct, []Entry{ssh}, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{e("!sftp")}, EgressKeys: gk}}, ProtoSFTP, false},
		{"group sftp and ssh, and personal ssh", acct, []Entry{ssh}, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{ssh, e("!sftp")}, EgressKeys: gk}}, ProtoSFTP, true},
		{"personal scpup for scpdown", acct, []Entry{ssh, e("!scpupload")}, nil, ProtoSCPDown, false},
		{"personal scpup", acct, []Entry{ssh, e("!scpupload")}, nil, ProtoSCPUp, true},
		{"personal scpdown", acct, []Entry{ssh, e("!scpdownload")}, nil, ProtoSCPDown, true},
		{"rsync", acct, []Entry{ssh, e("!rsync")}, nil, ProtoRsync, true},
		{"ssh access with any user", acct, []Entry{e("")}, nil, ProtoSFTP, false},
		{"ssh access with *", acct, []Entry{e("*")}, nil, ProtoSFTP, false},
		{"ssh access with !*", acct, []Entry{e("!*")}, nil, ProtoSFTP, false},
		{"ssh access as root", acct, []Entry{e("root")}, nil, ProtoSFTP, false},
		{"other host", acct, []Entry{ssh, other}, nil, ProtoSFTP, false},
		{"expired", acct, []Entry{ssh, expired}, nil, ProtoSFTP, false},
		{"frozen", Account{Name: "alice", Frozen: true, EgressKeys: pk}, []Entry{ssh, e("!sftp")}, nil, ProtoSFTP, false},
		{"osh only", Account{Name: "alice", OSHOnly: true, EgressKeys: pk}, []Entry{ssh, e("!sftp")}, nil, ProtoSFTP, false},
		{"member", acct, nil, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{ssh, e("!sftp")}, EgressKeys: gk}}, ProtoSFTP, true},
		{"not a member", acct, nil, []Group{{Name: "g", Members: []string{"bob"}, Servers: []Entry{ssh, e("!sftp")}, EgressKeys: gk}}, ProtoSFTP, false},
		{"member, group has ssh only", acct, nil, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{e("")}, EgressKeys: gk}}, ProtoSFTP, false},
		{"guest with both", acct, nil, []Group{{Name: "g", Servers: []Entry{ssh, e("!sftp")}, Guests: map[string][]Entry{"alice": {ssh, e("!sftp")}}, EgressKeys: gk}}, ProtoSFTP, true},
		{"guest, group lacks it", acct, nil, []Group{{Name: "g", Servers: []Entry{ssh}, Guests: map[string][]Entry{"alice": {ssh, e("!sftp")}}, EgressKeys: gk}}, ProtoSFTP, false},
		{"guest lacks it", acct, nil, []Group{{Name: "g", Servers: []Entry{ssh, e("!sftp")}, Guests: map[string][]Entry{"alice": {ssh}}, EgressKeys: gk}}, ProtoSFTP, false},
	}
	for _, c := range cases {
		d, err := DecideProtocol(now, c.acct, c.groups, c.personal, tgt, c.proto)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v", c.name, err)
		}
		var r *Refusal
		if err != nil && !errors.As(err, &r) {
			t.Errorf("%s: not a refusal: %v", c.name, err)
		}
		if c.ok && len(d.Grants) == 0 {
			t.Errorf("%s: allowed without a grant", c.name)
		}
	}
	// Protocol entries never grant an SSH session.
	if _, err := Decide(now, acct, nil, []Entry{e("!sftp"), e("!rsync"), e("!scpupload")}, tgt); err == nil {
		t.Error("a protocol entry granted an SSH session")
	}
}

func TestTransferOf(t *testing.T) {
	for cmd, want := range map[string]Protocol{
		"scp -t /tmp/x":        ProtoSCPUp,
		"scp -r -d -t -- /tmp": ProtoSCPUp,
		"scp -pt /tmp":         ProtoSCPUp,
		"scp -f /etc/shadow":   ProtoSCPDown,
		"/usr/bin/scp -v -f x": ProtoSCPDown,
		"scp a b":              "",
		"rsync --server -vlogDtpre.iLsfxCIvu . /srv/":    ProtoRsync,
		"rsync --server --sender -vlogDtpre.iLsfxC . /x": ProtoRsync,
		"rsync -av a b":                   "",
		"git-upload-pack '/srv/repo.git'": "",
		"":                                "",
		"sh -c 'scp -f /etc/shadow'":      "",
	} {
		if got := TransferOf(cmd); got != want {
			t.Errorf("TransferOf(%q) = %q, want %q", cmd, got, want)
		}
	}
}

func FuzzTransferOf(f *testing.F) {
	f.Add("scp -t /tmp")
	f.Add("rsync --server .")
	f.Fuzz(func(t *testing.T, cmd string) {
		switch TransferOf(cmd) {
		case "", ProtoSCPUp, ProtoSCPDown, ProtoRsync:
		default:
			t.Fatal("unknown protocol")
		}
	})
}

// TestDecideTransferTable: on every path, each remote command × the grants held: a transfer
// command needs exactly its protocol's grant besides the SSH access; any other command needs
// the SSH access alone.
func TestDecideTransferTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tgt := Target{User: "root", Host: "10.0.0.5", IP: netip.MustParseAddr("10.0.0.5"), Port: 22}
	acct := Account{Name: "alice", EgressKeys: []Key{{ID: "p1"}}}
	e := func(user string) Entry { return Entry{Host: "10.0.0.5", User: user, Port: 22} }
	commands := []struct {
		cmd   string
		proto Protocol
	}{
		{"scp -t /x", ProtoSCPUp}, {"scp -v -p -t -- /x", ProtoSCPUp}, {"/usr/bin/scp -pt /x", ProtoSCPUp},
		{"scp -f /etc/shadow", ProtoSCPDown}, {"scp -r -f /etc", ProtoSCPDown},
		{"rsync --server -vlogDtpre.iLsfxCIvu . /srv/", ProtoRsync}, {"rsync --server --sender -vlogDtpre.iLsfxCIvu . /srv/", ProtoRsync},
		{"/usr/bin/rsync --server . /x", ProtoRsync},
		{"ls -la", ""}, {"git-upload-pack '/srv/repo.git'", ""}, {"echo scp -t /x", ""}, {"scp", ""}, {"rsync --version", ""},
	}
	grants := [][]string{nil, {"!scpupload"}, {"!scpdownload"}, {"!sftp"}, {"!rsync"}, {"!scpupload", "!scpdownload", "!sftp", "!rsync"}}
	for _, c := range commands {
		for _, g := range grants {
			personal := []Entry{e("root")}
			has := map[string]bool{}
			for _, u := range g {
				personal = append(personal, e(u))
				has[u] = true
			}
			p, err := DecideTransfer(now, acct, nil, personal, tgt, c.cmd, "")
			if p != c.proto {
				t.Errorf("%q: protocol %q, want %q", c.cmd, p, c.proto)
			}
			want := c.proto == "" || has[ProtocolUser(c.proto)]
			if (err == nil) != want {
				t.Errorf("%q with %v: err %v, want allowed=%v", c.cmd, g, err, want)
			}
			// The same command as the sftp subsystem's text needs the --sftp grant, whatever it says.
			p, err = DecideTransfer(now, acct, nil, personal, tgt, c.cmd, "sftp")
			if p != ProtoSFTP || (err == nil) != has["!sftp"] {
				t.Errorf("subsystem sftp (%q) with %v: %q %v", c.cmd, g, p, err)
			}
		}
	}
}

// TestDecideForwardTable: forwarding to host:port needs a --forward entry for exactly that host
// and port, held personally, as a member or as a guest (with the group's own); an SSH access,
// any user, another port, another protocol, an expired entry or a frozen account never grants it.
func TestDecideForwardTable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tgt := Target{Host: "10.0.0.5", IP: netip.MustParseAddr("10.0.0.5"), Port: 5432}
	acct := Account{Name: "alice", EgressKeys: []Key{{ID: "p1"}}}
	fwd := Entry{Host: "10.0.0.5", User: "!forward", Port: 5432}
	cases := []struct {
		name     string
		acct     Account
		personal []Entry
		groups   []Group
		ok       bool
	}{
		{"personal forward", acct, []Entry{fwd}, nil, true},
		{"personal forward, no key needed", Account{Name: "alice"}, []Entry{fwd}, nil, true},
		{"nothing", acct, nil, nil, false},
		{"ssh access to the port", acct, []Entry{{Host: "10.0.0.5", User: "root", Port: 5432}}, nil, false},
		{"any user, any port", acct, []Entry{{Host: "10.0.0.5"}}, nil, false},
		{"sftp grant", acct, []Entry{{Host: "10.0.0.5", User: "!sftp", Port: 5432}}, nil, false},
		{"another port", acct, []Entry{{Host: "10.0.0.5", User: "!forward", Port: 5433}}, nil, false},
		{"another host", acct, []Entry{{Host: "10.0.0.6", User: "!forward", Port: 5432}}, nil, false},
		{"the network", acct, []Entry{{Host: "10.0.0.0/24", User: "!forward", Port: 5432}}, nil, true},
		{"expired", acct, []Entry{{Host: "10.0.0.5", User: "!forward", Port: 5432, Expiry: now.Add(-time.Second)}}, nil, false},
		{"frozen", Account{Name: "alice", Frozen: true}, []Entry{fwd}, nil, false},
		{"member", acct, nil, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{fwd}}}, true},
		{"not a member", acct, nil, []Group{{Name: "g", Members: []string{"bob"}, Servers: []Entry{fwd}}}, false},
		{"guest with both", acct, nil, []Group{{Name: "g", Servers: []Entry{fwd}, Guests: map[string][]Entry{"alice": {fwd}}}}, true},
		{"guest, group lacks it", acct, nil, []Group{{Name: "g", Guests: map[string][]Entry{"alice": {fwd}}}}, false},
	}
	for _, c := range cases {
		_, err := DecideForward(now, c.acct, c.groups, c.personal, tgt)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
	// A forward entry never grants an SSH session nor a transfer.
	if _, err := Decide(now, acct, nil, []Entry{fwd}, Target{User: "root", Host: "10.0.0.5", IP: tgt.IP, Port: 5432}); err == nil {
		t.Error("a forward entry granted an SSH session")
	}
}
