package osh_test

import (
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gatehouse/internal/app"
	"gatehouse/internal/audit"
	"gatehouse/internal/osh"
)

// bastionShortForms are the short option names The Bastion accepts per plugin, read from its
// sources: osh.pl's "host|h=s", "user|u|l=s", "port|p=i" for the plugins that use the host,
// user or port it hands them, and the plugins' own specs ("fingerprint-to-delete|f=s" …).
// Each maps a short form to the long option it stands for.
var bastionShortForms = map[string]map[string]string{
	"groupAddServer":           {"h": "host", "u": "user", "l": "user", "p": "port"},
	"groupDelServer":           {"h": "host", "u": "user", "l": "user", "p": "port"},
	"groupAddGuestAccess":      {"h": "host", "u": "user", "l": "user", "p": "port"},
	"groupDelGuestAccess":      {"h": "host", "u": "user", "l": "user", "p": "port"},
	"accountAddPersonalAccess": {"h": "host", "u": "user", "l": "user", "p": "port"},
	"accountDelPersonalAccess": {"h": "host", "u": "user", "l": "user", "p": "port"},
	"selfAddPersonalAccess":    {"h": "host", "u": "user", "l": "user", "p": "port"},
	"selfDelPersonalAccess":    {"h": "host", "u": "user", "l": "user", "p": "port"},
	"whoHasAccessTo":           {"h": "host", "u": "user", "l": "user", "p": "port", "ignore-private": "ignore-personal"},
	"selfForgetHostKey":        {"h": "host", "p": "port"},
	"assetForgetHostKey":       {"h": "host", "p": "port"},
	"selfListSessions":         {"h": "host", "u": "user", "l": "user"},
	"selfDelIngressKey":        {"f": "fingerprint-to-delete", "l": "id-to-delete"},
	"accountCreate":            {"pubKey": "public-key"},
	"selfAddIngressKey":        {"pubKey": "public-key"},
	"accountDelete":            {"i-am-a-robot-and-i-dont-know-how-to-answer-your-question": "no-confirm"},
	// The network plugins (another part of the issue) take ping's own -c -s -t -w and nc's -w
	// as option names, so they need no alias; -h and -p come from osh.pl.
	"ping":  {"h": "host"},
	"alive": {"h": "host", "u": "user"},
	"mtr":   {"h": "host"},
	"nc":    {"h": "host", "p": "port"},
}

// sample is a value an option of this kind accepts.
func sample(o osh.Option) []string {
	switch {
	case o.Kind == osh.Flag:
		return nil
	case len(o.Choices) > 0:
		return []string{o.Choices[0]}
	case o.Kind == osh.Int:
		return []string{"22"}
	case o.Kind == osh.Duration:
		return []string{"1d"}
	}
	return []string{"x1"}
}

// TestBastionShortForms: every short form The Bastion accepts works on the gatehouse command,
// giving what the long option gives, with one dash, two, or "=value".
func TestBastionShortForms(t *testing.T) {
	reg := app.NewRegistry()
	var missing []string
	for name, forms := range bastionShortForms {
		c, ok := reg.Lookup(name)
		if !ok {
			missing = append(missing, name)
			continue
		}
		for short, long := range forms {
			var opt *osh.Option
			for i := range c.Options {
				if c.Options[i].Name == long {
					opt = &c.Options[i]
				}
			}
			if opt == nil {
				t.Errorf("%s has no option --%s (The Bastion's -%s)", name, long, short)
				continue
			}
			want, err := osh.ParseCommandArgs(c, append([]string{"--" + long}, sample(*opt)...))
			if err != nil {
				t.Fatalf("%s --%s: %v", name, long, err)
			}
			forms := [][]string{append([]string{"-" + short}, sample(*opt)...), append([]string{"--" + short}, sample(*opt)...)}
			if v := sample(*opt); len(v) == 1 {
				forms = append(forms, []string{"--" + short + "=" + v[0]})
			}
			for _, words := range forms {
				got, err := osh.ParseCommandArgs(c, words)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%s %q = %+v, %v; want what --%s gives: %+v", name, words, got, err, long, want)
				}
			}
		}
	}
	sort.Strings(missing)
	t.Logf("commands not in gatehouse (docs/bastion-compat.md): %v", missing)
}

// TestEveryCommandOptionForms walks every command: each option answers to its own name with one
// or two dashes, to its aliases, and to its shortest unambiguous prefix, as Getopt::Long does;
// an ambiguous prefix is refused naming the candidates; the usage shows the short forms.
func TestEveryCommandOptionForms(t *testing.T) {
	for _, c := range app.NewRegistry().All() {
		aliases := osh.AliasesOf(c)
		names := map[string]bool{}
		for _, o := range c.Options {
			names[o.Name] = true
		}
		for _, a := range aliases {
			names[a.Name] = true
		}
		usage := osh.Usage(c)
		for _, a := range aliases {
			if len(a.Name) == 1 && !strings.Contains(usage, "-"+a.Name+", ") {
				t.Errorf("%s: the usage does not show -%s:\n%s", c.Name, a.Name, usage)
			}
		}
		for _, o := range c.Options {
			want, err := osh.ParseCommandArgs(c, append([]string{"--" + o.Name}, sample(o)...))
			if err != nil {
				t.Fatalf("%s --%s: %v", c.Name, o.Name, err)
			}
			if got, err := osh.ParseCommandArgs(c, append([]string{"-" + o.Name}, sample(o)...)); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s -%s: %+v, %v", c.Name, o.Name, got, err)
			}
			if got, err := osh.ParseCommandArgs(c, append([]string{"--" + strings.ToUpper(o.Name)}, sample(o)...)); len(o.Name) > 1 && (err != nil || !reflect.DeepEqual(got, want)) {
				t.Errorf("%s --%s: %+v, %v", c.Name, strings.ToUpper(o.Name), got, err)
			}
			// The shortest prefix naming this option only (or nothing shorter than the name).
			for n := 1; n < len(o.Name); n++ {
				p := o.Name[:n]
				var others []string
				for other := range names {
					if other != o.Name && strings.HasPrefix(strings.ToLower(other), strings.ToLower(p)) && !sameOption(aliases, other, o.Name) {
						others = append(others, other)
					}
				}
				got, err := osh.ParseCommandArgs(c, append([]string{"--" + p}, sample(o)...))
				if len(others) == 0 {
					if err != nil || !reflect.DeepEqual(got, want) {
						t.Errorf("%s --%s (prefix of --%s): %+v, %v", c.Name, p, o.Name, got, err)
					}
					break
				}
				if names[p] {
					continue // the prefix is itself a name or alias
				}
				if err == nil || !strings.Contains(err.Error(), "ambiguous") {
					t.Errorf("%s --%s: prefix of %s and %v accepted: %+v, %v", c.Name, p, o.Name, others, got, err)
				}
			}
		}
	}
}

func sameOption(aliases []osh.Alias, name, option string) bool {
	for _, a := range aliases {
		if a.Name == name && a.Option == option {
			return true
		}
	}
	return false
}

func TestResolveOptionErrors(t *testing.T) {
	c := &osh.Command{Name: "accountInfo", Options: []osh.Option{{Name: "account", Kind: osh.String}, {Name: "all", Kind: osh.Flag}}}
	for _, tc := range []struct {
		words []string
		err   string
	}{
		{[]string{"-a", "x"}, "ambiguous (account, all)"},
		{[]string{"--zzz"}, "unknown option --zzz"},
		{[]string{"-h", "x"}, "unknown option --h"}, // no --host: -h is not an alias here
		{[]string{"-A", "x"}, "unknown option --A"}, // one letter keeps its case (osh.pl's -P is not -p)
		{[]string{"--acc", "a", "--account", "b"}, "given twice"},
	} {
		if _, err := osh.ParseCommandArgs(c, tc.words); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err = %v, want %q", tc.words, err, tc.err)
		}
	}
}

func FuzzParseCommandArgs(f *testing.F) {
	c := &osh.Command{Name: "selfDelIngressKey", Options: []osh.Option{{Name: "host", Kind: osh.String}, {Name: "user", Kind: osh.String},
		{Name: "user-any", Kind: osh.Flag}, {Name: "port", Kind: osh.Int}, {Name: "fingerprint-to-delete", Kind: osh.String}, {Name: "id-to-delete", Kind: osh.Int}}}
	for _, s := range []string{"-h a -u b -p 22", "-l 3", "-f SHA256:x", "--us x", "--user-a", "-U x", "--HOST=y", "-", "--=", "---h x", "-p=22"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := osh.Split(line)
		if err != nil {
			return
		}
		a, err := osh.ParseCommandArgs(c, words)
		if err != nil {
			return
		}
		// Whatever was typed, only the command's own options come out.
		for _, o := range []string{"h", "u", "p", "l", "f"} {
			if a.Has(o) {
				t.Fatalf("alias %q kept as an option name from %q", o, line)
			}
		}
		if a.Has("id-to-delete") && a.String("id-to-delete") != "" && a.Int("id-to-delete") == 0 && a.String("id-to-delete") != "0" {
			if _, err := strconv.Atoi(a.String("id-to-delete")); err != nil {
				t.Fatalf("non-number accepted for an Int option: %q", line)
			}
		}
	})
}

// TestCanonicalArgs: what the audit records: every option under its own name, values as typed
// (even when they look like options), and an ambiguous word that could be a secret option
// written as that option so that its value is masked.
func TestCanonicalArgs(t *testing.T) {
	c := &osh.Command{Name: "x", Options: []osh.Option{{Name: "host", Kind: osh.String}, {Name: "user", Kind: osh.String},
		{Name: "port", Kind: osh.String}, {Name: "force", Kind: osh.Flag}, {Name: "password", Kind: osh.String},
		{Name: "public-key", Kind: osh.Words}, {Name: "comment", Kind: osh.String}, {Name: "pass-hint", Kind: osh.String}}}
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-h", "a", "-u", "-p", "-p", "22"}, []string{"--host", "a", "--user", "-p", "--port", "22"}},
		{[]string{"--fo", "--HOST=b", "--comm", "--force"}, []string{"--force", "--host=b", "--comment", "--force"}},
		{[]string{"--passw", "s3cret"}, []string{"--password", "s3cret"}},
		{[]string{"--pas", "s3cret"}, []string{"--password", "s3cret"}}, // ambiguous (password, pass-hint): masked
		{[]string{"-P", "s3cret"}, []string{"--password", "s3cret"}},    // unknown (one letter keeps its case): masked
		{[]string{"--p", "22"}, []string{"--port", "22"}},
		{[]string{"--pub", "ssh-ed25519", "AAAA", "c", "-f"}, []string{"--public-key", "ssh-ed25519", "AAAA", "c", "--force"}},
		{[]string{"--nope", "x", "-"}, []string{"--nope", "x", "-"}},
	} {
		got := osh.CanonicalArgs(c, tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CanonicalArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if masked := audit.MaskArgs(got); slices.Contains(masked, "s3cret") {
			t.Errorf("%q: the secret reaches the audit: %q", tc.in, masked)
		}
	}
}
