package open

import (
	"net"
	"testing"
)

func TestBastionAlias(t *testing.T) {
	v4 := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 2222}
	v6 := &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 22}
	for _, tc := range []struct {
		command, account string
		local            net.Addr
		want             string
	}{
		{"ssh ACCOUNT@HOST -p PORT -t --", "alice", v4, "ssh alice@192.0.2.7 -p 2222 -t --"},
		{"ssh ACCOUNT@HOST -p PORT -t --", "bob", v6, "ssh bob@2001:db8::7 -p 22 -t --"},
		{"ssh USER@bastion.example -t --", "carol", v4, "ssh carol@bastion.example -t --"},
		{"ssh ACCOUNT@bastion.example -p 2222 -t --", "HOSTPORT", v4, "ssh HOSTPORT@bastion.example -p 2222 -t --"},
		{"ssh ACCOUNT@HOST -p PORT -t --", "dave", nil, "ssh dave@HOST -p PORT -t --"},
	} {
		if got := BastionAlias(tc.command, tc.account, tc.local); got != tc.want {
			t.Errorf("BastionAlias(%q, %q, %v) = %q, want %q", tc.command, tc.account, tc.local, got, tc.want)
		}
	}
}
