package osh

import (
	"strings"
	"testing"
)

var netOpts = []Option{{Name: "host", Kind: String}, {Name: "port", Kind: String}, {Name: "c", Kind: Int},
	{Name: "report", Kind: Flag}, {Name: "comment", Kind: Words}}

func TestWithPositional(t *testing.T) {
	for _, tc := range []struct {
		pos   []string
		words string
		want  string
	}{
		{[]string{"host"}, "srv", "--host srv"},
		{[]string{"host"}, "-c 3 srv", "-c 3 --host srv"},
		{[]string{"host"}, "srv -c 3", "--host srv -c 3"},
		{[]string{"host"}, "--report srv", "--report --host srv"},
		{[]string{"host"}, "--host a b", "--host a b"}, // given: the bare word stays, ParseArgs refuses it
		{[]string{"host", "port"}, "srv 22", "--host srv --port 22"},
		{[]string{"host", "port"}, "--port 22 srv", "--port 22 --host srv"},
		{[]string{"host", "port"}, "srv 22 x", "--host srv --port 22 x"},
		{[]string{"host"}, "--comment a b c srv", "--comment a b c srv"}, // Words takes them all
		{[]string{"host"}, "-c=3 srv", "-c=3 --host srv"},
		{[]string{"host"}, "--unknown srv", "--unknown --host srv"},
		{nil, "srv", "srv"},
		{[]string{"host"}, "", ""},
	} {
		got := strings.Join(WithPositional(netOpts, tc.pos, strings.Fields(tc.words)), " ")
		if got != tc.want {
			t.Errorf("WithPositional(%v, %q) = %q, want %q", tc.pos, tc.words, got, tc.want)
		}
	}
}

// FuzzWithPositional: the rewrite only adds option names in front of the user's words, keeps
// their order, and ParseArgs of the result never panics.
func FuzzWithPositional(f *testing.F) {
	for _, s := range []string{"srv", "-c 3 srv", "srv 22", "--host a b", "--comment a b -c 1 x", "-- x", "- -c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words := strings.Fields(s)
		out := WithPositional(netOpts, []string{"host", "port"}, words)
		// out is words with at most two option names inserted, nothing else changed.
		j, added := 0, 0
		for _, w := range out {
			if j < len(words) && w == words[j] {
				j++
				continue
			}
			if w != "--host" && w != "--port" {
				t.Fatalf("%q → %q: %q appeared", words, out, w)
			}
			added++
		}
		if j != len(words) || added > 2 {
			t.Fatalf("%q → %q", words, out)
		}
		_, _ = ParseArgs(netOpts, out)
	})
}

func TestUsageShortOptions(t *testing.T) {
	u := Usage(&Command{Name: "ping", Summary: "s", Options: []Option{{Name: "host", Kind: String}, {Name: "c", Kind: Int, Help: "count"}}})
	if !strings.Contains(u, "  -c N ") || !strings.Contains(u, "--host VALUE") || strings.Contains(u, "--c ") {
		t.Errorf("usage:\n%s", u)
	}
}
