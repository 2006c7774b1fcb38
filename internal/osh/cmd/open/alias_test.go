package open

import (
	"fmt"
	"net"
	"testing"

	"gatehouse/internal/store"
)

func TestBastionAlias(t *testing.T) {
	v4 := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 2222}
	v6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 22}
	for _, tc := range []struct {
		command, account, hostname string
		local                      net.Addr
		want                       string
	}{
		{"ssh ACCOUNT@HOST -p PORT -t --", "alice", "bastion1", v4, "ssh alice@192.0.2.7 -p 2222 -t --"},
		{"ssh ACCOUNT@HOST -p PORT -t --", "bob", "bastion1", v6, "ssh bob@2001:db8::7 -p 22 -t --"},
		{"ssh USER@bastion.example -t --", "carol", "bastion1", v4, "ssh carol@bastion.example -t --"},
		{"ssh ACCOUNT@bastion.example -p 2222 -t --", "HOSTPORT", "bastion1", v4, "ssh HOSTPORT@bastion.example -p 2222 -t --"},
		{"ssh ACCOUNT@HOST -p PORT -t --", "dave", "bastion1", nil, "ssh dave@HOST -p PORT -t --"},
		// The Bastion's default and its other placeholders.
		{"ssh USER@HOSTNAME -t --", "erin", "bastion1.example", v4, "ssh erin@bastion1.example -t --"},
		{"ssh USER@HOSTNAME -p PORT -t --", "erin", "", v4, "ssh erin@192.0.2.7 -p 2222 -t --"},
		{"ssh -o ControlPath=~/.ssh/CACHENAME ACCOUNT@HOST -t -- # BASTIONNAME", "frank", "h", v4, "ssh -o ControlPath=~/.ssh/gh frank@192.0.2.7 -t -- # gh"},
	} {
		if got := BastionAlias(tc.command, tc.account, "gh", tc.hostname, tc.local); got != tc.want {
			t.Errorf("BastionAlias(%q, %q, %q, %v) = %q, want %q", tc.command, tc.account, tc.hostname, tc.local, got, tc.want)
		}
	}
}

func TestAdminLists(t *testing.T) {
	acc := func(name string, grants ...string) store.Account { return store.Account{Name: name, Grants: grants} }
	for _, tc := range []struct {
		in                  []store.Account
		admins, superOwners string
	}{
		{nil, "[]", "[]"},
		{[]store.Account{acc("zed", "admin"), acc("amy", "admin", "superowner"), acc("bob", "superowner"), acc("cy", "auditor"), acc("dan")}, "[amy zed]", "[bob]"},
		{[]store.Account{acc("x", "superowner", "accountList")}, "[]", "[x]"},
	} {
		a, s := AdminLists(tc.in)
		if fmt.Sprint(a) != tc.admins || fmt.Sprint(s) != tc.superOwners {
			t.Errorf("AdminLists = %v %v, want %s %s", a, s, tc.admins, tc.superOwners)
		}
	}
}
