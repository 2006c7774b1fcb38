package osh

import (
	"strings"
	"testing"
)

func testCompletion() Completion {
	return Completion{
		Commands: []string{"accountInfo", "accountList", "groupInfo", "selfListIngressKeys"},
		Options: func(c string) ([]string, bool) {
			switch c {
			case "accountInfo":
				return []string{"--account", "--all", "--json"}, true
			case "groupInfo":
				return []string{"--group"}, true
			}
			return nil, false
		},
		Values: func(c, opt string) ([]string, bool) {
			switch {
			case c == "accountInfo" && opt == "account":
				return []string{"alice", "albert", "bob"}, true
			case c == "groupInfo" && opt == "group":
				return []string{"ops", "opsec", "dev"}, true
			case c == "ssh" && opt == "host":
				return []string{"db1.example", "db2.example", "web1"}, true
			}
			return nil, false
		},
	}
}

// TestCandidates: commands first, then options, then an option's values; the new line and the
// candidates Tab-Tab lists.
func TestCandidates(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		matches    string
		ok         bool
	}{
		{"", "", "accountInfo accountList exit groupInfo mfa nomfa selfListIngressKeys ssh", true},
		{"acc", "account", "accountInfo accountList", true},
		{"accountI", "accountInfo ", "accountInfo", true},
		{"accountInfo ", "accountInfo --", "--account --all --json", true},
		{"accountInfo --a", "accountInfo --a", "--account --all", true},
		{"accountInfo --account ", "accountInfo --account ", "albert alice bob", true},
		{"accountInfo --account al", "accountInfo --account al", "albert alice", true},
		{"accountInfo --account b", "accountInfo --account bob ", "bob", true},
		{"accountInfo --account bob ", "accountInfo --account bob --", "--account --all --json", true},
		{"accountInfo --account --j", "accountInfo --account --json ", "--json", true}, // an option, not a value
		{"accountInfo --all ", "accountInfo --all --", "--account --all --json", true},
		{"groupInfo --group op", "groupInfo --group ops", "ops opsec", true},
		{"groupInfo --group x", "", "", false},
		{"unknown --a", "", "", false},
		{"ssh ", "ssh ", "db1.example db2.example web1", true},
		{"ssh d", "ssh db", "db1.example db2.example", true},
		{"ssh w", "ssh web1 ", "web1", true},
		{"ssh web1 -", "", "", false},
		{"zz", "", "", false},
		{"x\u00a0", "", "", false},
	} {
		got, matches, ok := Candidates(tc.line, testCompletion())
		if ok != tc.ok || got != tc.want || strings.Join(matches, " ") != tc.matches {
			t.Errorf("Candidates(%q) = %q, %q, %v; want %q, %q, %v", tc.line, got, matches, ok, tc.want, tc.matches, tc.ok)
		}
	}
}

func FuzzCandidates(f *testing.F) {
	for _, s := range []string{"", "acc", "accountInfo --account al", "groupInfo --group ", "x\u00a0", " \t", "à", "accountInfo --account é"} {
		f.Add(s)
	}
	c := testCompletion()
	f.Fuzz(func(t *testing.T, line string) {
		got, matches, ok := Candidates(line, c)
		if !ok {
			return
		}
		fields := strings.Fields(line)
		head := line
		if len(fields) > 0 && strings.HasSuffix(line, fields[len(fields)-1]) {
			head = strings.TrimSuffix(line, fields[len(fields)-1])
		}
		if !strings.HasPrefix(got, head) || len(matches) == 0 {
			t.Fatalf("Candidates(%q) = %q, %q changed what was typed", line, got, matches)
		}
	})
}

func TestFormatCandidates(t *testing.T) {
	got := FormatCandidates([]string{"a", "bb", "ccc", "dddd", "e"}, 14)
	want := "a     dddd\nbb    e\nccc\n"
	if got != want {
		t.Errorf("FormatCandidates = %q, want %q", got, want)
	}
	if got := FormatCandidates([]string{"wide-candidate"}, 5); got != "wide-candidate\n" {
		t.Errorf("a candidate wider than the terminal: %q", got)
	}
	if got := FormatCandidates([]string{"数据库", "ab"}, 16); got != "数据库  ab\n" {
		t.Errorf("wide characters: %q", got)
	}
}

// TestRemember: what reaches the persistent history: known commands, connections, mfa/nomfa;
// never unknown words (perhaps a secret typed at the wrong prompt), errors, empty lines, exit.
func TestRemember(t *testing.T) {
	lookup := func(w string) (string, bool) {
		if w == "info" || w == "accountInfo" {
			return w, true
		}
		return "", false
	}
	for line, want := range map[string]bool{
		"info":                       true,
		"accountInfo --account bob":  true,
		"ssh root@db1":               true,
		"root@db1.example -p 22":     true,
		"mfa":                        true,
		"nomfa":                      true,
		"Sup3rSecret":                false,
		"123456":                     false,
		"":                           false,
		"   ":                        false,
		"exit":                       false,
		"info 'unterminated":         false,
		strings.Repeat("info ", 999): false,
	} {
		if got := Remember(line, 1000, lookup); got != want {
			t.Errorf("Remember(%q) = %v, want %v", line, got, want)
		}
	}
}
