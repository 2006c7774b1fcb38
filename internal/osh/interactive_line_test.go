package osh

import (
	"reflect"
	"strings"
	"testing"
)

// testLookup knows two commands and one alias, as the registry would.
func testLookup(w string) (string, bool) {
	switch w {
	case "info", "help":
		return w, true
	case "selfListKeys":
		return "selfListIngressKeys", true
	}
	return "", false
}

func TestParseInteractiveLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Action
	}{
		{"", Action{Kind: ActNothing}},
		{"   \t ", Action{Kind: ActNothing}},
		{"exit", Action{Kind: ActExit}},
		{"  quit  ", Action{Kind: ActExit}},
		{"logout now", Action{Kind: ActExit}},
		{"mfa", Action{Kind: ActMFA}},
		{"enable", Action{Kind: ActMFA}},
		{"nomfa", Action{Kind: ActNoMFA}},
		{"end", Action{Kind: ActNoMFA}},
		// The crash of issue 9: `ssh` alone indexed past the end of its words.
		{"ssh", Action{Kind: ActError, Message: "Usage: ssh [user@]host [-p port] [-u user] [command …]"}},
		{"  ssh   ", Action{Kind: ActError, Message: "Usage: ssh [user@]host [-p port] [-u user] [command …]"}},
		{"ssh ''", Action{Kind: ActError, Message: `Cannot understand "ssh ''": type help for the commands.`}},
		{"ssh -p 22", Action{Kind: ActError, Message: `Cannot understand "ssh -p 22": type help for the commands.`}},
		{"ssh --osh info", Action{Kind: ActError, Message: `Cannot understand "ssh --osh info": type help for the commands.`}},
		{"ssh -i", Action{Kind: ActError, Message: `Cannot understand "ssh -i": type help for the commands.`}},
		{"ssh root@10.0.0.5 -p 22", Action{Kind: ActConnect, Request: Request{User: "root", Host: "10.0.0.5", Port: 22}}},
		{"ssh srv", Action{Kind: ActConnect, Request: Request{Host: "srv"}}},
		// After ssh a word is a host, even one that names a command.
		{"ssh info", Action{Kind: ActConnect, Request: Request{Host: "info"}}},
		{"root@10.0.0.5 uname -a", Action{Kind: ActConnect, Request: Request{User: "root", Host: "10.0.0.5", RemoteCommand: []string{"uname", "-a"}}}},
		{"10.0.0.5:2222", Action{Kind: ActConnect, Request: Request{Host: "10.0.0.5", Port: 2222}}},
		{"root@ -p 22", Action{Kind: ActError, Message: `Cannot understand "root@ -p 22": type help for the commands.`}},
		{"info", Action{Kind: ActCommand, Command: "info"}},
		{"help --json", Action{Kind: ActCommand, Command: "help", Args: []string{"--json"}}},
		{"selfListKeys", Action{Kind: ActCommand, Command: "selfListIngressKeys"}},
		{`info --comment "a b"`, Action{Kind: ActCommand, Command: "info", Args: []string{"--comment", "a b"}}},
		// An unknown word that is not a host goes to Run, which refuses it as unknown.
		{"frobnicate x", Action{Kind: ActCommand, Command: "frobnicate", Args: []string{"x"}}},
		{"-x", Action{Kind: ActCommand, Command: "-x"}},
		{`"unterminated`, Action{Kind: ActError, Message: "unterminated double quote in the command line"}},
		{"'", Action{Kind: ActError, Message: "unterminated single quote in the command line"}},
		{strings.Repeat("a", 1025), Action{Kind: ActError, Message: "The line is too long (1025 bytes, at most 1024)."}},
	} {
		got := ParseInteractiveLine(tc.line, 1024, testLookup)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseInteractiveLine(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func FuzzParseInteractiveLine(f *testing.F) {
	for _, s := range []string{"", "ssh", "ssh ", "ssh root@h -p 22", "info --x", "exit", "mfa", "a@b", "'", `"\`,
		"ssh -- x", "ssh -p", "ssh ''", "root@[::1]:22 ls", "\x00", "ssh\tssh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		a := ParseInteractiveLine(line, 4096, testLookup)
		switch a.Kind {
		case ActNothing, ActExit, ActMFA, ActNoMFA:
		case ActError:
			if a.Message == "" {
				t.Fatalf("error without a message for %q", line)
			}
		case ActCommand:
			// The command is the first word typed, or the registered name it looks up to.
			w, err := Split(strings.TrimSpace(line))
			if err != nil || len(w) == 0 {
				t.Fatalf("command from a line without words %q", line)
			}
			if name, ok := testLookup(w[0]); a.Command != w[0] && (!ok || a.Command != name) {
				t.Fatalf("command %q from %q", a.Command, line)
			}
		case ActConnect:
			if !a.Request.HasTarget() || a.Request.Osh != "" || a.Request.Interactive {
				t.Fatalf("connect without a plain target for %q: %+v", line, a.Request)
			}
		default:
			t.Fatalf("unknown action %v for %q", a.Kind, line)
		}
	})
}

func TestComplete(t *testing.T) {
	cmds := []string{"selfListIngressKeys", "selfListAccesses", "info", "help"}
	opts := func(c string) ([]string, bool) {
		if c == "accountInfo" {
			return []string{"--account", "--all", "--json"}, true
		}
		return nil, false
	}
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"selfListIn", "selfListIngressKeys ", true},
		{"selfList", "selfList", true}, // two matches: their common prefix
		{"in", "info ", true},
		{"ss", "ssh ", true},
		{"zz", "", false},
		{"", "", true}, // every candidate: their common prefix is empty
		{"accountInfo --acc", "accountInfo --account ", true},
		{"accountInfo --a", "accountInfo --a", true},
		{"accountInfo ", "accountInfo --", true},
		{"unknown --a", "", false},
		{"accountInfo\u00a0--a", "accountInfo\u00a0--a", true}, // a space strings.Fields knows
		{"x\u00a0", "", false},
	} {
		got, ok := Complete(tc.line, cmds, opts)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Complete(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzComplete(f *testing.F) {
	for _, s := range []string{"", "selfList", "accountInfo --a", "accountInfo ", "x\u00a0", " \t", "à"} {
		f.Add(s)
	}
	cmds := []string{"selfListIngressKeys", "selfListAccesses", "info"}
	opts := func(c string) ([]string, bool) { return []string{"--account", "--all"}, c == "accountInfo" }
	f.Fuzz(func(t *testing.T, line string) {
		got, ok := Complete(line, cmds, opts)
		if !ok {
			return
		}
		// Completion only appends to the word being typed: what was typed before it stays.
		fields := strings.Fields(line)
		head := line
		if len(fields) > 0 && strings.HasSuffix(line, fields[len(fields)-1]) {
			head = strings.TrimSuffix(line, fields[len(fields)-1])
		}
		if !strings.HasPrefix(got, head) {
			t.Fatalf("Complete(%q) = %q changed what was typed", line, got)
		}
	})
}

func FuzzParseArgs(f *testing.F) {
	opts := []Option{{Name: "account", Kind: String}, {Name: "force", Kind: Flag}, {Name: "n", Kind: Int}, {Name: "ttl", Kind: Duration},
		{Name: "key", Kind: Words}, {Name: "host", Kind: Multi}, {Name: "algo", Kind: String, Choices: []string{"ed25519", "rsa"}}}
	for _, s := range []string{"--account a --force", "--n 3 --ttl 1d", "--key ssh-ed25519 AAAA c --force", "--host a --host b",
		"--algo=rsa", "--ttl 600y", "--ttl 1000y", "-", "--", "--n=x", "--force=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			return
		}
		a, err := ParseArgs(opts, words)
		if err != nil {
			return
		}
		if a.Has("ttl") && a.Duration("ttl") < 0 {
			t.Fatalf("negative duration accepted from %q", line)
		}
		if v := a.String("algo"); a.Has("algo") && v != "ed25519" && v != "rsa" {
			t.Fatalf("choice %q accepted", v)
		}
	})
}

func TestParseDurationOverflow(t *testing.T) {
	for _, s := range []string{"600y", "1000y", "99999y", "100000w", "101y", "36501d", "5000000000000s", "99y99999d"} {
		if d, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, d)
		}
	}
	for s, want := range map[string]float64{"100y": 100 * 365 * 24, "1w2d": 9 * 24, "3600": 1, "1y1d": 365*24 + 24} {
		d, err := ParseDuration(s)
		if err != nil || d.Hours() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v h", s, d, err, want)
		}
	}
}
