package osh

import (
	"fmt"
	"sort"
	"strings"

	"gatehouse/internal/audit"
)

// The other names an option answers to, as The Bastion takes them. One table, read by the
// option parser (ParseCommandArgs), the usage text (Usage) and the contract test, so what the
// help shows is what the parser accepts.
//
// The Bastion parses a command line twice: osh.pl first takes its own options anywhere on the
// line ("host|h=s", "user|u|l=s", "port|p=i") and hands their values to the plugin, then the
// plugin's Getopt::Long parses the rest with its defaults: `-name` as well as `--name`, names in
// any case, and any unambiguous prefix of a name (`--acc bob`).

// Alias is one other name of a command's option.
type Alias struct {
	Name   string // what the user types, without dashes
	Option string // the option's own name
}

// GlobalAliases are osh.pl's short options: they name the option of the same meaning in every
// command that has one (selfAddPersonalAccess -h HOST -u USER -p PORT, whoHasAccessTo -h HOST …).
var GlobalAliases = []Alias{{"h", "host"}, {"u", "user"}, {"l", "user"}, {"p", "port"}}

// PluginAliases are the other names a plugin's own option spec gives an option
// ("pubKey|public-key=s", "fingerprint-to-delete|f=s", …), by command.
var PluginAliases = map[string][]Alias{
	"accountCreate":     {{"pubKey", "public-key"}},
	"selfAddIngressKey": {{"pubKey", "public-key"}},
	"selfDelIngressKey": {{"f", "fingerprint-to-delete"}, {"l", "id-to-delete"}, {"line-number-to-delete", "id-to-delete"}},
	"accountDelete":     {{"i-am-a-robot-and-i-dont-know-how-to-answer-your-question", "no-confirm"}},
	"accountInfo":       {{"list-groups", "with-groups"}},
	"whoHasAccessTo":    {{"ignore-private", "ignore-personal"}},
}

// AliasesOf returns the other names of c's options that apply to it: the plugin's own, then
// osh.pl's short options for the options c has (a plugin's own name wins over osh.pl's: -l is
// selfDelIngressKey's line id, as in its spec).
func AliasesOf(c *Command) []Alias {
	has := map[string]bool{}
	for _, o := range c.Options {
		has[o.Name] = true
	}
	var out []Alias
	taken := map[string]bool{}
	for _, a := range PluginAliases[c.Name] {
		if has[a.Option] {
			out = append(out, a)
			taken[a.Name] = true
		}
	}
	for _, a := range GlobalAliases {
		if has[a.Option] && !taken[a.Name] && !has[a.Name] {
			out = append(out, a)
		}
	}
	return out
}

// resolveOption finds the option a user's word names (dashes and any "=value" removed), as
// Getopt::Long does: the exact name or alias, then the same in any case, then a prefix that
// names one option only. An ambiguous prefix is refused with the options it could mean.
func resolveOption(opts []Option, aliases []Alias, name string) (Option, error) {
	byName := map[string]Option{}
	for _, o := range opts {
		byName[o.Name] = o
	}
	names := map[string]string{} // every accepted name → option name
	for _, o := range opts {
		names[o.Name] = o.Name
	}
	for _, a := range aliases {
		if _, own := names[a.Name]; !own {
			names[a.Name] = a.Option
		}
	}
	if n, ok := names[name]; ok {
		return byName[n], nil
	}
	if name == "" {
		return Option{}, fmt.Errorf("unknown option --")
	}
	// One letter keeps its case: osh.pl's -P, -T, -J are not -p, -t, -j.
	fold := strings.ToLower
	if len(name) == 1 {
		fold = func(s string) string { return s }
	}
	lower := fold(name)
	hits := map[string]bool{}
	var matched []string
	for typed, n := range names {
		if fold(typed) == lower {
			return byName[n], nil
		}
		if strings.HasPrefix(fold(typed), lower) {
			hits[n] = true
			matched = append(matched, typed)
		}
	}
	switch len(hits) {
	case 1:
		for n := range hits {
			return byName[n], nil
		}
	case 0:
		return Option{}, fmt.Errorf("unknown option --%s (see --help for the options of this command)", quoted(name))
	}
	sort.Strings(matched)
	return Option{}, fmt.Errorf("option --%s is ambiguous (%s): type more of its name", quoted(name), strings.Join(matched, ", "))
}

// ParseCommandArgs parses c's options with every name The Bastion accepts for them.
func ParseCommandArgs(c *Command, words []string) (Args, error) {
	return parseArgs(c.Options, AliasesOf(c), words)
}

// aliasesByOption groups aliases by the option they name, for the usage text.
func aliasesByOption(aliases []Alias) map[string][]string {
	m := map[string][]string{}
	for _, a := range aliases {
		m[a.Option] = append(m[a.Option], a.Name)
	}
	return m
}

// dashed writes a name as typed: -h for one letter, --name otherwise.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// CanonicalArgs rewrites a command's words with each option under its own name (`-h X` →
// `--host X`, `--acc bob` → `--account bob`), values untouched, walking them as the parser does.
// The audit log records these, so a reader (or a SIEM rule) sees one spelling, and the masking
// of secret option values, which matches option names, is not dodged by an abbreviation. A word
// that names no single option stays as typed; an ambiguous one that could name a secret option
// is written as that option, so its value is masked too (masking too much is the safe mistake).
func CanonicalArgs(c *Command, words []string) []string {
	aliases := AliasesOf(c)
	out := make([]string, len(words))
	copy(out, words)
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			continue
		}
		typed, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		o, err := resolveOption(c.Options, aliases, typed)
		if err != nil {
			if secret := secretCandidate(c.Options, typed); secret != "" {
				out[i] = "--" + secret
				if hasVal {
					out[i] += "=" + val
				}
			}
			continue
		}
		out[i] = "--" + o.Name
		if hasVal {
			out[i] += "=" + val
			continue
		}
		if o.Kind == Flag || i+1 >= len(words) {
			continue
		}
		i++ // the value, whatever it looks like
		if o.Kind == Words {
			for i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				i++
			}
		}
	}
	return out
}

// secretCandidate is the first option whose name typed abbreviates (in any case) and whose
// value the audit masks, or "".
func secretCandidate(opts []Option, typed string) string {
	if typed == "" {
		return ""
	}
	for _, o := range opts {
		if strings.HasPrefix(strings.ToLower(o.Name), strings.ToLower(typed)) && audit.IsSecretOption(o.Name) {
			return o.Name
		}
	}
	return ""
}
