package osh

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/session"
)

// Category says who may run a command. It is also the folder of internal/osh/cmd the command
// lives in, so the permission model can be read from the tree, as in The Bastion's bin/plugin/.
type Category string

const (
	Open            Category = "open"             // any account
	Restricted      Category = "restricted"       // accounts granted the command (admins hold all)
	GroupOwner      Category = "group-owner"      // owners of at least one group, super-owners
	GroupGatekeeper Category = "group-gatekeeper" // gatekeepers of at least one group, super-owners
	GroupAclkeeper  Category = "group-aclkeeper"  // aclkeepers of at least one group, super-owners
	Admin           Category = "admin"            // admins only
)

// OptionKind is the type of a command's option value.
type OptionKind int

const (
	Flag     OptionKind = iota // --name, no value
	String                     // --name VALUE
	Int                        // --name N
	Multi                      // --name VALUE, may repeat
	Duration                   // --name 1d2h, or seconds
	// Words takes every following word up to the next one starting with "-", joined by spaces,
	// so that `--public-key ssh-ed25519 AAAA… comment` works even though ssh joins the words.
	Words
)

// Option describes one option of a command, for parsing, help and completion.
type Option struct {
	Name string // without the leading dashes
	Kind OptionKind
	Help string
	// Choices, when set, are the only values accepted.
	Choices []string
}

// Command is one --osh command.
type Command struct {
	Name     string
	Category Category
	Summary  string
	Options  []Option
	// Positional names the options that bare words fill, in order (WithPositional), as The
	// Bastion's network plugins take `ping HOST` or `nc HOST PORT`.
	Positional []string
	// MFARequired is the built-in JIT MFA requirement: "", "any", "password", "totp" or
	// "any-if-configured". The operator's plugin config may add one; a built-in is never lowered.
	MFARequired string
	// MFASetupNotRequired lets the command run before the account has set up required factors
	// (help, info and the setup commands).
	MFASetupNotRequired bool
	// ReadsStdin marks commands that consume standard input (batch, key pasting).
	ReadsStdin bool
	// ShowsSecrets marks commands whose output holds a secret (a TOTP seed and scratch codes, a
	// temporary password): their output is kept out of the session recording, which auditors
	// may play.
	ShowsSecrets bool
	// AuditorMay lets auditors run this restricted command without a grant (read-only commands
	// such as accountListSessions).
	AuditorMay bool
	Run        func(ctx context.Context, c *Call) Result
}

// Info is what the MFA wiring needs to know of the command.
func (c *Command) Info() session.CommandInfo {
	return session.CommandInfo{Name: c.Name, MFARequired: c.MFARequired, MFASetupNotRequired: c.MFASetupNotRequired}
}

// Registry holds the commands by name. Build it once at start; it is read-only afterwards.
type Registry struct {
	cmds    map[string]*Command
	aliases map[string]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{cmds: map[string]*Command{}, aliases: map[string]string{
		// Old names The Bastion still accepts.
		"selfAddKey": "selfAddIngressKey", "selfDelKey": "selfDelIngressKey", "selfListKeys": "selfListIngressKeys",
		"accountListKeys": "accountListIngressKeys",
	}}
}

// Add registers commands; a duplicate name is a programming error and panics at start.
func (r *Registry) Add(cmds ...*Command) {
	for _, c := range cmds {
		if _, dup := r.cmds[c.Name]; dup {
			panic("osh: command registered twice: " + c.Name)
		}
		if c.Run == nil || c.Category == "" {
			panic("osh: command without Run or Category: " + c.Name)
		}
		r.cmds[c.Name] = c
	}
}

// Lookup returns the command for name, following old aliases.
func (r *Registry) Lookup(name string) (*Command, bool) {
	if a, ok := r.aliases[name]; ok {
		name = a
	}
	c, ok := r.cmds[name]
	return c, ok
}

// All returns every command sorted by name.
func (r *Registry) All() []*Command {
	out := make([]*Command, 0, len(r.cmds))
	for _, c := range r.cmds {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Args are a command's parsed options.
type Args struct {
	values map[string][]string
}

// Has reports whether the option was given.
func (a Args) Has(name string) bool { _, ok := a.values[name]; return ok }

// String returns the option's value, or "".
func (a Args) String(name string) string {
	if v := a.values[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// All returns every value of a repeatable option.
func (a Args) All(name string) []string { return a.values[name] }

// Int returns the option's value as a number (validated at parse time).
func (a Args) Int(name string) int { n, _ := strconv.Atoi(a.String(name)); return n }

// Duration returns a Duration option (validated at parse time).
func (a Args) Duration(name string) time.Duration { d, _ := ParseDuration(a.String(name)); return d }

// ParseArgs parses a command's options. Unknown options, missing values, repeated single options
// and values outside Choices are refused with a sentence naming the option.
func ParseArgs(opts []Option, words []string) (Args, error) {
	return parseArgs(opts, nil, words)
}

// parseArgs is ParseArgs that also takes the options' other names (shortopts.go).
func parseArgs(opts []Option, aliases []Alias, words []string) (Args, error) {
	a := Args{values: map[string][]string{}}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			return a, fmt.Errorf("unexpected argument %q: options are --name value", quoted(w))
		}
		typed, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		o, err := resolveOption(opts, aliases, typed)
		if err != nil {
			return a, err
		}
		name := o.Name
		if _, dup := a.values[name]; dup && o.Kind != Multi {
			return a, fmt.Errorf("option --%s is given twice", name)
		}
		if o.Kind == Flag {
			if hasVal {
				return a, fmt.Errorf("option --%s takes no value", name)
			}
			a.values[name] = []string{""}
			continue
		}
		if !hasVal {
			if i+1 >= len(words) {
				return a, fmt.Errorf("option --%s needs a value", name)
			}
			i++
			val = words[i]
			if o.Kind == Words {
				for i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
					i++
					val += " " + words[i]
				}
			}
		}
		switch o.Kind {
		case Int:
			if _, err := strconv.Atoi(val); err != nil {
				return a, fmt.Errorf("option --%s needs a whole number, got %q", name, quoted(val))
			}
		case Duration:
			if _, err := ParseDuration(val); err != nil {
				return a, fmt.Errorf("option --%s: %v", name, err)
			}
		}
		if len(o.Choices) > 0 && !contains(o.Choices, val) {
			return a, fmt.Errorf("option --%s must be one of %s, got %q", name, strings.Join(o.Choices, ", "), quoted(val))
		}
		a.values[name] = append(a.values[name], val)
	}
	return a, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// maxDuration bounds every duration a user may give (--ttl, --guest-ttl-limit …): 100 years.
// Far below time.Duration's limit (292 years), so no sum of bounded terms can wrap around.
const maxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration reads The Bastion's durations: a number of seconds, or units such as 1w2d3h4m5s.
// A value beyond 100 years is refused, never wrapped: each term and the running total are
// checked before they are multiplied or added, so 600y or 1000y is an error, not 15 years or a
// negative duration.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration: give seconds or e.g. 1d12h")
	}
	tooLong := fmt.Errorf("duration %q is out of range: at most 100 years (100y, or %d seconds)", quoted(s), int64(maxDuration/time.Second))
	if s[0] >= '0' && s[0] <= '9' && strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > int64(maxDuration/time.Second) {
			return 0, tooLong
		}
		return time.Duration(n) * time.Second, nil
	}
	units := map[byte]time.Duration{'y': 365 * 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}
	var total time.Duration
	from := 0 // start of the digits of the current term
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case units[c] != 0 && i > from:
			n, err := strconv.ParseInt(s[from:i], 10, 64)
			if err != nil || n > int64(maxDuration/units[c]) {
				return 0, tooLong
			}
			term := time.Duration(n) * units[c]
			if total > maxDuration-term {
				return 0, tooLong
			}
			total += term
			from = i + 1
		default:
			return 0, fmt.Errorf("duration %q is invalid: give seconds or e.g. 1w2d3h4m5s", quoted(s))
		}
	}
	if from != len(s) {
		return 0, fmt.Errorf("duration %q is invalid: give seconds or e.g. 1w2d3h4m5s", quoted(s))
	}
	return total, nil
}

// WantsHelp reports whether a command's words ask for its usage, as The Bastion's plugins take
// them: --help anywhere, or -h alone (with a value, -h is a short option such as -h HOST).
func WantsHelp(args []string) bool {
	if len(args) == 1 && args[0] == "-h" {
		return true
	}
	for _, a := range args {
		if a == "--help" {
			return true
		}
	}
	return false
}

// Usage is a command's help: its usage line, its summary and each option with its help string.
func Usage(c *Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: --osh %s", c.Name)
	if len(c.Options) > 0 {
		b.WriteString(" [OPTIONS]")
	}
	fmt.Fprintf(&b, "\n\n%s\n", c.Summary)
	if len(c.Options) == 0 {
		return b.String()
	}
	b.WriteString("\nOptions:\n")
	other := aliasesByOption(AliasesOf(c))
	for _, o := range c.Options {
		name := dashed(o.Name) // a one-letter option is short, as The Bastion writes them (ping's -c)
		var shorts []string
		for _, a := range other[o.Name] {
			if len(a) == 1 { // the short forms, as The Bastion's help writes them
				shorts = append(shorts, dashed(a))
			}
		}
		if len(shorts) > 0 {
			name = strings.Join(shorts, ", ") + ", " + name
		}
		switch o.Kind {
		case String, Words:
			name += " VALUE"
		case Int:
			name += " N"
		case Multi:
			name += " VALUE (may repeat)"
		case Duration:
			name += " DURATION"
		}
		if len(o.Choices) > 0 {
			name += " (" + strings.Join(o.Choices, "|") + ")"
		}
		fmt.Fprintf(&b, "  %-32s  %s\n", name, o.Help)
	}
	return b.String()
}
