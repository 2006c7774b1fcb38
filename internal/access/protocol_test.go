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
	acct := Account{Name: "alice"}
	e := func(user string) Entry { return Entry{Host: "10.0.0.5", User: user, Port: 22} }
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
		{"personal sftp", acct, []Entry{e("!sftp")}, nil, ProtoSFTP, true},
		{"personal scpup for scpdown", acct, []Entry{e("!scpupload")}, nil, ProtoSCPDown, false},
		{"personal scpup", acct, []Entry{e("!scpupload")}, nil, ProtoSCPUp, true},
		{"personal scpdown", acct, []Entry{e("!scpdownload")}, nil, ProtoSCPDown, true},
		{"rsync", acct, []Entry{e("!rsync")}, nil, ProtoRsync, true},
		{"ssh access with any user", acct, []Entry{e("")}, nil, ProtoSFTP, false},
		{"ssh access with *", acct, []Entry{e("*")}, nil, ProtoSFTP, false},
		{"ssh access with !*", acct, []Entry{e("!*")}, nil, ProtoSFTP, false},
		{"ssh access as root", acct, []Entry{e("root")}, nil, ProtoSFTP, false},
		{"other host", acct, []Entry{other}, nil, ProtoSFTP, false},
		{"expired", acct, []Entry{expired}, nil, ProtoSFTP, false},
		{"frozen", Account{Name: "alice", Frozen: true}, []Entry{e("!sftp")}, nil, ProtoSFTP, false},
		{"osh only", Account{Name: "alice", OSHOnly: true}, []Entry{e("!sftp")}, nil, ProtoSFTP, false},
		{"member", acct, nil, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{e("!sftp")}}}, ProtoSFTP, true},
		{"not a member", acct, nil, []Group{{Name: "g", Members: []string{"bob"}, Servers: []Entry{e("!sftp")}}}, ProtoSFTP, false},
		{"member, group has ssh only", acct, nil, []Group{{Name: "g", Members: []string{"alice"}, Servers: []Entry{e("")}}}, ProtoSFTP, false},
		{"guest with both", acct, nil, []Group{{Name: "g", Servers: []Entry{e("!sftp")}, Guests: map[string][]Entry{"alice": {e("!sftp")}}}}, ProtoSFTP, true},
		{"guest, group lacks it", acct, nil, []Group{{Name: "g", Servers: []Entry{e("root")}, Guests: map[string][]Entry{"alice": {e("!sftp")}}}}, ProtoSFTP, false},
		{"guest lacks it", acct, nil, []Group{{Name: "g", Servers: []Entry{e("!sftp")}, Guests: map[string][]Entry{"alice": {e("root")}}}}, ProtoSFTP, false},
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
