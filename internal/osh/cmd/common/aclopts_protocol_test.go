package common

import (
	"testing"
	"time"

	"gatehouse/internal/access"
)

// TestCheckACLProtocols: a protocol flag stores The Bastion's pseudo user; it cannot be combined
// with a user, --user-any, or another protocol.
func TestCheckACLProtocols(t *testing.T) {
	base := ACLInput{Host: "10.0.0.5", Port: "22"}
	for _, c := range []struct {
		name string
		mod  func(*ACLInput)
		user string
		code string
	}{
		{"sftp", func(i *ACLInput) { i.Protocols = []access.Protocol{access.ProtoSFTP} }, "!sftp", ""},
		{"scpup", func(i *ACLInput) { i.Protocols = []access.Protocol{access.ProtoSCPUp} }, "!scpupload", ""},
		{"scpdown", func(i *ACLInput) { i.Protocols = []access.Protocol{access.ProtoSCPDown} }, "!scpdownload", ""},
		{"rsync", func(i *ACLInput) { i.Protocols = []access.Protocol{access.ProtoRsync} }, "!rsync", ""},
		{"two", func(i *ACLInput) { i.Protocols = []access.Protocol{access.ProtoSFTP, access.ProtoRsync} }, "", "ERR_INCOMPATIBLE_PARAMETERS"},
		{"with user", func(i *ACLInput) { i.Protocols, i.User = []access.Protocol{access.ProtoSFTP}, "root" }, "", "ERR_INCOMPATIBLE_PARAMETERS"},
		{"with user-any", func(i *ACLInput) { i.Protocols, i.UserAny = []access.Protocol{access.ProtoSFTP}, true }, "", "ERR_INCOMPATIBLE_PARAMETERS"},
	} {
		in := base
		c.mod(&in)
		s, err := CheckACL(in, true, true)
		switch {
		case c.code == "" && (err != nil || s.User != c.user):
			t.Errorf("%s: %+v %v", c.name, s, err)
		case c.code != "" && (err == nil || err.Code != c.code):
			t.Errorf("%s: err %v, want %s", c.name, err, c.code)
		}
	}
}

// TestCoversProtocols: a guest's protocol grant needs the group's own grant for that protocol; an
// SSH entry, even for any user, does not cover it, and a protocol entry covers no SSH access.
func TestCoversProtocols(t *testing.T) {
	h, _ := access.ParseHost("10.0.0.5")
	spec := func(user string) ACLSpec { return ACLSpec{Host: h, User: user, Port: 22} }
	entry := func(user string) access.Entry { return access.Entry{Host: "10.0.0.5", User: user, Port: 22} }
	for _, c := range []struct {
		group, guest string
		ok           bool
	}{
		{"!sftp", "!sftp", true}, {"", "!sftp", false}, {"*", "!sftp", false}, {"!*", "!sftp", false},
		{"!rsync", "!sftp", false}, {"!sftp", "root", false}, {"!sftp", "", false}, {"", "root", true},
	} {
		if got := Covers(entry(c.group), spec(c.guest), time.Now()); got != c.ok {
			t.Errorf("group %q covers guest %q: %v", c.group, c.guest, got)
		}
	}
}
