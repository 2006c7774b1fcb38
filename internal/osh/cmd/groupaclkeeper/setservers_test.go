package groupaclkeeper

import (
	"strings"
	"testing"
)

func TestParseServerList(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		widest int      // widest_v4_prefix
		want   []string // Machine() of each valid entry, in order
		errors int
		lines  int
	}{
		{name: "lines", input: "server12.example.org\nlogs@server\n192.0.2.21\nhost1.example.net:2222 host1 on secondary sshd\n\n# a comment\nroot@192.0.2.0/24 production db\n",
			lines: 5,
			want:  []string{"*@server12.example.org:*", "logs@server:*", "*@192.0.2.21:*", "*@host1.example.net:2222", "root@192.0.2.0/24:*"}},
		{name: "ipv6", input: "2001:db8::1\nroot@[2001:db8::2]:2222\n", lines: 2,
			want: []string{"*@[2001:db8::1]:*", "root@[2001:db8::2]:2222"}},
		{name: "prefixes need no --force", input: "10.0.0.5\n0.0.0.0/0\n10.0.0.0/17\n", lines: 3, want: []string{"*@10.0.0.5:*", "*@0.0.0.0/0:*", "*@10.0.0.0/17:*"}},
		{name: "prefix wider than widest_v4_prefix", input: "10.0.0.5\n0.0.0.0/0\n10.0.0.0/24\n10.0.0.0/17\n", widest: 24, lines: 4, want: []string{"*@10.0.0.5:*", "*@10.0.0.0/24:*"}, errors: 2},
		{name: "host bits set", input: "10.0.0.1/24\n", lines: 1, errors: 1},
		{name: "bad entries", input: "root;id@10.0.0.1\n10.0.0.2:0\n10.0.0.3:70000\nnot/a/host\n@10.0.0.4\n10.0.0.5:\n", lines: 6, errors: 6},
		{name: "json", input: `[{"ip":"10.0.0.1","user":"root","port":22,"comment":"db"},{"ip":"10.0.0.2","user":null,"port":null},{"ip":"10.0.0.3","user":"*","port":"*","addedBy":"x"}]`,
			lines: 3, want: []string{"root@10.0.0.1:22", "*@10.0.0.2:*", "*@10.0.0.3:*"}},
		{name: "json bad entries", input: `[{"ip":"10.0.0.1","port":0},{"ip":"10.0.0.1","port":22.5},{"user":"root"},{"ip":"10.0.0.1","user":"a b"},{"ip":"10.0.0.1","port":[1]}]`,
			lines: 5, errors: 5},
		{name: "json not an array of objects", input: `[1,2]`, errors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parseServerList([]byte(tt.input), tt.widest, 0)
			var got []string
			for _, e := range p.Entries {
				got = append(got, e.Machine())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("entries %v, want %v", got, tt.want)
			}
			if len(p.Errors) != tt.errors {
				t.Errorf("%d errors, want %d: %q", len(p.Errors), tt.errors, p.Errors)
			}
			if p.Lines != tt.lines {
				t.Errorf("%d lines, want %d", p.Lines, tt.lines)
			}
		})
	}
	// Comments survive.
	p := parseServerList([]byte("10.0.0.1:22 the primary db\n"), 0, 0)
	if len(p.Entries) != 1 || p.Entries[0].Comment != "the primary db" {
		t.Fatalf("comment lost: %+v", p.Entries)
	}
}
