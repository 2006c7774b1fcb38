package names

import (
	"strings"
	"testing"
)

func TestAccount(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"te3456789012345678stu_Ser.1-", true}, // The Bastion's test name, 28 characters
		{"a", true},
		{"", false},
		{"a/b", false},
		{"../etc", false},
		{strings.Repeat("a", 200), false},
		{strings.Repeat("a", 29), false},
		{"-dash", false},
		{"root", false},
		{"al ice", false},
		{"al\nice", false},
		{"élise", false},
	} {
		if err := Account(tc.name); (err == nil) != tc.ok {
			t.Errorf("Account(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"web-servers", true}, {"g1", true}, {"", false}, {"Web", false}, {"a/b", false}, {strings.Repeat("g", 28), false},
	} {
		if err := Group(tc.name); (err == nil) != tc.ok {
			t.Errorf("Group(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
