package common

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/internal/access"
)

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		inc, exc []string
		fields   []string
		keep     bool
	}{
		{nil, nil, []string{"anything"}, true},
		{[]string{"web"}, nil, []string{"web-1"}, true},
		{[]string{"web"}, nil, []string{"myweb"}, true}, // a plain word: contains
		{[]string{"web*"}, nil, []string{"myweb"}, false},
		{[]string{"web*"}, nil, []string{"web"}, true},
		{[]string{"w?b"}, nil, []string{"wab"}, true},
		{[]string{"w?b"}, nil, []string{"wb"}, false},
		{[]string{"WEB"}, nil, []string{"web"}, false}, // case-sensitive
		{[]string{"a.b"}, nil, []string{"axb"}, false}, // a dot is a dot
		{[]string{"(x|y)"}, nil, []string{"y"}, false}, // no regexp syntax leaks through
		{[]string{"(x|y)"}, nil, []string{"(x|y)"}, true},
		{[]string{"x", "y"}, nil, []string{"y"}, true},
		{[]string{"root"}, []string{"lab"}, []string{"10.0.0.1", "root", "lab"}, false}, // --exclude wins
		{nil, []string{"lab"}, []string{"10.0.0.1", "root", "-"}, true},
		{[]string{"root"}, nil, []string{"10.0.0.1", "*", "x"}, false},
		{[]string{"*"}, nil, []string{""}, true},
		{[]string{""}, nil, []string{"x"}, true}, // "" is "**"
		{[]string{"a"}, nil, []string{"x\na"}, true},
	} {
		p, err := ParsePatterns(tc.inc, tc.exc)
		if err != nil {
			t.Fatalf("%v %v: %v", tc.inc, tc.exc, err)
		}
		if got := p.Keep(tc.fields...); got != tc.keep {
			t.Errorf("include %q exclude %q Keep(%q) = %v, want %v", tc.inc, tc.exc, tc.fields, got, tc.keep)
		}
	}
	if _, err := ParsePatterns([]string{strings.Repeat("a", 257)}, nil); err == nil {
		t.Error("a 257-character pattern was accepted")
	}
	if _, err := ParsePatterns(nil, make([]string, 65)); err == nil {
		t.Error("65 patterns were accepted")
	}
}

func TestACLCells(t *testing.T) {
	e := access.Entry{Host: "10.0.0.0/24", AddedBy: "bob", AddedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if got := strings.Join(ACLCells(e, "g(group)"), "|"); got != "10.0.0.0/24|*|*|g(group)|bob|2026-01-02|-|-" {
		t.Errorf("cells %q", got)
	}
	e.User, e.Port, e.Comment, e.Expiry = "root", 22, "db", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := strings.Join(ACLCells(e, "g(group)"), "|"); got != "10.0.0.0/24|22|root|g(group)|bob|2026-01-02|2027-01-01 00:00:00|db" {
		t.Errorf("cells %q", got)
	}
}

// FuzzPatterns: any pattern a user types compiles (or is refused for its size), never panics, and
// a pattern without wildcards keeps exactly the fields containing it.
func FuzzPatterns(f *testing.F) {
	for _, s := range []string{"web", "w*b?", `\`, "(", "[a-", "^$", ".*", "\x00", "é"} {
		f.Add(s, "some-field")
	}
	f.Fuzz(func(t *testing.T, pat, field string) {
		p, err := ParsePatterns([]string{pat}, nil)
		if err != nil {
			if len(pat) <= maxPatternLength && utf8.ValidString(pat) {
				t.Fatalf("%q refused: %v", pat, err)
			}
			return
		}
		got := p.Keep(field)
		if !strings.ContainsAny(pat, "*?") && got != strings.Contains(field, pat) {
			t.Fatalf("include %q, field %q: Keep %v", pat, field, got)
		}
	})
}
