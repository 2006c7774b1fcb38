package osh

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"--osh info", []string{"--osh", "info"}, false},
		{`--comment "two words" x`, []string{"--comment", "two words", "x"}, false},
		{`--comment 'it''s'`, []string{"--comment", "its"}, false},
		{`a\ b "c\"d" ''`, []string{"a b", `c"d`, ""}, false},
		{`"unterminated`, nil, true},
		{`'unterminated`, nil, true},
		{"   ", nil, false},
	} {
		got, err := Split(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Split(%q) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Request
		err  string
	}{
		{line: "--osh info", want: Request{Osh: "info"}},
		{line: "--json-greppable --osh accountList", want: Request{Osh: "accountList", JSON: JSONGreppable}},
		{line: "--osh accountList --json", want: Request{Osh: "accountList", JSON: JSONCompact}},
		{line: "--osh accountCreate --account a --json-pretty --comment x", want: Request{Osh: "accountCreate", OshArgs: []string{"--account", "a", "--comment", "x"}, JSON: JSONPretty}},
		{line: "--osh=help --quiet", want: Request{Osh: "help", Quiet: true}}, // osh.pl takes --quiet anywhere
		{line: "-h 10.0.0.1 -u root -p 2222 --osh selfAddPersonalAccess --force", want: Request{Osh: "selfAddPersonalAccess", OshArgs: []string{"--host", "10.0.0.1", "--user", "root", "--port", "2222", "--force"}}},
		{line: "--osh whoHasAccessTo -q -h srv", want: Request{Osh: "whoHasAccessTo", OshArgs: []string{"-h", "srv"}, Quiet: true}},
		{line: "--quiet --osh help", want: Request{Osh: "help", Quiet: true}},
		{line: "-i", want: Request{Interactive: true}},
		{line: "", want: Request{}},
		{line: "root@10.0.0.5 -p 22", want: Request{User: "root", Host: "10.0.0.5", Port: 22}},
		{line: "-t root@10.0.0.5 -p 2222 uname -a", want: Request{User: "root", Host: "10.0.0.5", Port: 2222, ForceTTY: true, RemoteCommand: []string{"uname", "-a"}, RemoteCommandLine: "uname -a"}},
		{line: `root@h ls -la "my dir" | grep 'x y'`, want: Request{User: "root", Host: "h", RemoteCommand: []string{"ls", "-la", "my dir", "|", "grep", "x y"}, RemoteCommandLine: `ls -la "my dir" | grep 'x y'`}},
		{line: "10.0.0.5 -u admin -- ls -la", want: Request{User: "admin", Host: "10.0.0.5", RemoteCommand: []string{"ls", "-la"}, RemoteCommandLine: "ls -la"}},
		{line: "-u admin -p 22 srv.example.com", want: Request{User: "admin", Host: "srv.example.com", Port: 22}},
		{line: "-l admin srv", want: Request{User: "admin", Host: "srv"}}, // osh.pl: "user|u|l=s"
		{line: "root@srv:2200", want: Request{User: "root", Host: "srv", Port: 2200}},
		{line: "root@[::1] -p 22", want: Request{User: "root", Host: "::1", Port: 22}},
		{line: "--proactive-mfa --osh batch", want: Request{Osh: "batch", ProactiveMFA: true}},
		{line: "--osh", want: Request{Osh: "help"}},
		{line: "-osh", want: Request{Osh: "help"}},
		{line: "--osh --json", want: Request{Osh: "help", JSON: JSONCompact}},
		{line: "-osh --json-greppable", want: Request{Osh: "help", JSON: JSONGreppable}},
		{line: "-osh info", want: Request{Osh: "info"}},
		{line: "-osh=info", want: Request{Osh: "info"}},
		{line: "-osh accountInfo --account a --json", want: Request{Osh: "accountInfo", OshArgs: []string{"--account", "a"}, JSON: JSONCompact}},
		{line: "--osh=", err: "needs a command name"},
		{line: "--osh ''", err: "needs a command name"},
		{line: "-osh a -osh b", want: Request{Osh: "a", OshArgs: []string{"-osh", "b"}}},
		{line: "--osh help --proactive-mfa", want: Request{Osh: "help", ProactiveMFA: true}},
		{line: "--osh accountList --proactive-mfa --json", want: Request{Osh: "accountList", ProactiveMFA: true, JSON: JSONCompact}},
		{line: "--proactive-mfa --osh help --proactive-mfa", want: Request{Osh: "help", ProactiveMFA: true}},
		{line: "--osh --proactive-mfa", want: Request{Osh: "help", ProactiveMFA: true}},
		{line: "--frobnicate", err: "unknown option --frobnicate"},
		{line: "root@h -p 0", err: "port \"0\" is invalid"},
		{line: "root@h -p 70000", err: "invalid"},
		{line: "-p 22 -p 23 h", err: "given twice"},
		{line: "--osh a --osh b", want: Request{Osh: "a", OshArgs: []string{"--osh", "b"}}},
		{line: "--json --json-greppable --osh info", err: "only one of"},
		{line: "-i root@h", err: "cannot be combined"},
		{line: "-p 22", err: "no host"},
		{line: "@h", err: "is not [user@]host"},
		{line: "-t -T h", err: "cannot be given together"},
	} {
		got, err := ParseLine(tc.line)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseLine(%q) err = %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLine(%q) = %+v, %v\nwant %+v", tc.line, got, err, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	opts := []Option{{Name: "account", Kind: String}, {Name: "no-key", Kind: Flag}, {Name: "size", Kind: Int},
		{Name: "ttl", Kind: Duration}, {Name: "algo", Kind: String, Choices: []string{"ed25519", "rsa"}},
		{Name: "public-key", Kind: Words}, {Name: "host", Kind: Multi}}
	a, err := ParseArgs(opts, []string{"--account", "bob", "--no-key", "--size=4096", "--ttl", "1d2h", "--algo", "rsa",
		"--public-key", "ssh-ed25519", "AAAA", "bob@x", "--host", "a", "--host", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if a.String("account") != "bob" || !a.Has("no-key") || a.Int("size") != 4096 || a.Duration("ttl").Hours() != 26 ||
		a.String("public-key") != "ssh-ed25519 AAAA bob@x" || len(a.All("host")) != 2 {
		t.Fatalf("got %+v", a)
	}
	for _, tc := range []struct {
		words []string
		err   string
	}{
		{[]string{"--nope"}, "unknown option --nope"},
		{[]string{"--account", "a", "--account", "b"}, "given twice"},
		{[]string{"--account"}, "needs a value"},
		{[]string{"--size", "big"}, "whole number"},
		{[]string{"--ttl", "soon"}, "invalid"},
		{[]string{"--algo", "dsa"}, "must be one of"},
		{[]string{"--no-key=yes"}, "takes no value"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		if _, err := ParseArgs(opts, tc.words); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseArgs(%q) err = %v, want %q", tc.words, err, tc.err)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"--osh info", "--json-greppable --osh accountList", "root@10.0.0.5 -p 22 uname -a",
		`--osh accountCreate --account a --public-key "ssh-ed25519 AAAA"`, "-i", "-osh", "--osh help --proactive-mfa", "'\"", `a\`, "-u x -h y -p 1 -- z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseLine(line)
		if err != nil {
			if _, ok := err.(*GrammarError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Invariants of an accepted line.
		if r.Osh != "" && (r.Host != "" || r.Interactive) {
			t.Fatalf("--osh with a host or -i accepted: %+v", r)
		}
		if r.Port < 0 || r.Port > 65535 {
			t.Fatalf("port out of range accepted: %d", r.Port)
		}
		if r.Host == "" && (r.Port != 0 || r.User != "" || len(r.RemoteCommand) > 0) {
			t.Fatalf("target parts without a host: %+v", r)
		}
	})
}

func TestNoTargetAnswer(t *testing.T) {
	for _, tc := range []struct {
		words                        int
		interactive, allowed, byDflt bool
		want                         string
	}{
		{0, false, true, true, "interactive"},
		{0, false, true, false, "KO_NO_HOST"},
		{0, false, false, true, "KO_NO_HOST"},
		{0, false, false, false, "KO_NO_HOST"},
		{1, true, true, true, "interactive"},
		{1, true, true, false, "interactive"},
		{1, true, false, true, "KO_INTERACTIVE_DISABLED"},
		{1, true, false, false, "KO_INTERACTIVE_DISABLED"},
		{1, false, true, true, "KO_NO_HOST"}, // -- --json-greppable
		{2, false, true, true, "KO_NO_HOST"}, // -- --quiet --json
		{1, false, true, false, "KO_NO_HOST"},
		{1, false, false, false, "KO_NO_HOST"},
	} {
		if got := NoTargetAnswer(tc.words, tc.interactive, tc.allowed, tc.byDflt); got != tc.want {
			t.Errorf("NoTargetAnswer(%d, -i=%v, allowed=%v, byDefault=%v) = %s, want %s", tc.words, tc.interactive, tc.allowed, tc.byDflt, got, tc.want)
		}
	}
}

func TestWantsHelpAndUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--help"}, true},
		{[]string{"-h"}, true},
		{[]string{"--account", "a", "--help"}, true},
		{[]string{"-h", "srv"}, false}, // a short option with its value
		{[]string{"--account", "--help"}, true},
		{[]string{"--helpme"}, false},
		{[]string{"--account", "a"}, false},
	} {
		if got := WantsHelp(tc.args); got != tc.want {
			t.Errorf("WantsHelp(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
	u := Usage(&Command{Name: "accountDelete", Summary: "delete an account", Options: []Option{
		{Name: "account", Kind: String, Help: "the account name"}, {Name: "no-confirm", Kind: Flag, Help: "do not ask"},
		{Name: "algo", Kind: String, Choices: []string{"a", "b"}, Help: "which"}}})
	for _, want := range []string{"Usage: --osh accountDelete [OPTIONS]", "delete an account", "--account VALUE", "the account name", "--no-confirm", "do not ask", "(a|b)"} {
		if !strings.Contains(u, want) {
			t.Errorf("Usage lacks %q:\n%s", want, u)
		}
	}
	if u := Usage(&Command{Name: "info", Summary: "s"}); strings.Contains(u, "Options") || strings.Contains(u, "[OPTIONS]") {
		t.Errorf("Usage of a command without options: %s", u)
	}
}

func TestSplitGlobalOptions(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		rest  []string
		mode  JSONMode
		quiet bool
	}{
		{nil, nil, JSONNone, false},
		{[]string{"--account", "a", "--json"}, []string{"--account", "a"}, JSONCompact, false},
		{[]string{"--json-pretty", "-q", "--all"}, []string{"--all"}, JSONPretty, true},
		{[]string{"--json", "--json-greppable"}, nil, JSONGreppable, false},
		{[]string{"--jsonx", "--quietly"}, []string{"--jsonx", "--quietly"}, JSONNone, false},
	} {
		rest, mode, quiet := SplitGlobalOptions(tc.in)
		if !reflect.DeepEqual(rest, tc.rest) || mode != tc.mode || quiet != tc.quiet {
			t.Errorf("SplitGlobalOptions(%q) = %q %v %v", tc.in, rest, mode, quiet)
		}
	}
}
