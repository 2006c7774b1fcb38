package osh

import (
	"context"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"gatehouse/internal/accessdb"
)

// Completion is what the interactive prompt completes from: the commands the account may run
// (and the prompt's own words), each command's options, and the values an option takes.
type Completion struct {
	Commands []string
	// Options returns the options of cmd ("--name"), or false when cmd is not a command.
	Options func(cmd string) ([]string, bool)
	// Values returns the values the option opt (without dashes) of cmd takes, or false when it
	// takes none (a flag, or an unknown option).
	Values func(cmd, opt string) ([]string, bool)
}

// builtins are the interactive mode's own words, completed with the commands.
var builtins = []string{"exit", "mfa", "nomfa", "ssh"}

// Candidates is the tab completion of the interactive prompt, pure: the first word completes
// among commands (and the prompt's own words), a later one among the options of the command
// named first, and the word after an option that takes a value among that option's values
// (account, group or server names, or its choices). It returns the candidates matching the
// word being typed, sorted, and the new line: the word completed as far as the candidates
// agree (a space after a single match). ok is false when nothing matches or the line cannot be
// completed at its end. The line up to the word being completed is kept as typed.
func Candidates(line string, c Completion) (newLine string, matches []string, ok bool) {
	words := strings.Fields(line)
	last, _ := utf8.DecodeLastRuneInString(line)
	trailing := line == "" || unicode.IsSpace(last)
	var candidates []string
	prefix := ""
	if !trailing && len(words) > 0 {
		prefix = words[len(words)-1]
	}
	switch {
	case len(words) == 0 || (len(words) == 1 && !trailing):
		candidates = append(append(candidates, c.Commands...), builtins...)
	case words[0] == "ssh" && c.Values != nil && (len(words) == 1 || (len(words) == 2 && !trailing)):
		// `ssh HOST`: the servers of the account's accesses.
		candidates, _ = c.Values("ssh", "host")
	default:
		before := words[len(words)-1] // the word before the one being typed
		if !trailing {
			before = words[len(words)-2]
		}
		if opt, isOpt := strings.CutPrefix(before, "--"); isOpt && c.Values != nil && !strings.HasPrefix(prefix, "-") {
			if vals, takes := c.Values(words[0], opt); takes {
				candidates = vals
				break
			}
		}
		if c.Options == nil {
			return "", nil, false
		}
		opts, ok := c.Options(words[0])
		if !ok {
			return "", nil, false
		}
		candidates = opts
	}
	if !strings.HasSuffix(line, prefix) {
		return "", nil, false // the last word ends in a space strings.Fields knows and we do not
	}
	seen := map[string]bool{}
	for _, cand := range candidates {
		if strings.HasPrefix(cand, prefix) && !seen[cand] {
			seen[cand] = true
			matches = append(matches, cand)
		}
	}
	if len(matches) == 0 {
		return "", nil, false
	}
	sort.Strings(matches)
	base := line[:len(line)-len(prefix)]
	if len(matches) == 1 {
		return base + matches[0] + " ", matches, true
	}
	common := matches[0]
	for _, m := range matches[1:] {
		for !strings.HasPrefix(m, common) {
			_, size := utf8.DecodeLastRuneInString(common)
			common = common[:len(common)-size]
		}
	}
	return base + common, matches, true
}

// Complete is Candidates for commands and options only (kept for its callers).
func Complete(line string, commands []string, optionsOf func(cmd string) ([]string, bool)) (string, bool) {
	nl, _, ok := Candidates(line, Completion{Commands: commands, Options: optionsOf})
	return nl, ok
}

// FormatCandidates lays the candidates out in columns that fit width, as a shell lists them
// on Tab-Tab, row by row; a candidate wider than width gets a row of its own.
func FormatCandidates(cands []string, width int) string {
	if len(cands) == 0 {
		return ""
	}
	colw := 0
	for _, c := range cands {
		colw = max(colw, DisplayWidth(c))
	}
	colw += 2
	cols := 1
	if width > colw {
		cols = width / colw
	}
	rows := (len(cands) + cols - 1) / cols
	var b strings.Builder
	for r := 0; r < rows; r++ {
		for col := 0; col < cols; col++ {
			i := col*rows + r
			if i >= len(cands) {
				break
			}
			b.WriteString(cands[i])
			if col < cols-1 && (col+1)*rows+r < len(cands) {
				b.WriteString(strings.Repeat(" ", colw-DisplayWidth(cands[i])))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// maxListed caps the candidates Tab-Tab lists (a bastion may hold thousands of accounts).
const maxListed = 200

// completer is the line editor's AutoCompleteCallback: Tab completes as far as the candidates
// agree; a second Tab that completes nothing more lists them (above the prompt, which the
// editor redraws). Values are read from the store when asked for, as the account may see them:
// account and group names, and the servers of its own accesses.
func (e *Env) completer(ctx context.Context, s *Session, w interface{ Write([]byte) (int, error) }, sz *sizeFollower) func(line string, pos int, key rune) (string, int, bool) {
	var lastTab string
	tabbed := false
	return func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' {
			tabbed = false
			return "", 0, false
		}
		if pos != len(line) {
			return "", 0, false
		}
		nl, matches, ok := Candidates(line, e.completion(ctx, s))
		if ok && nl != line {
			tabbed = false
			return nl, len(nl), true
		}
		if tabbed && lastTab == line && len(matches) > 1 {
			list := matches
			more := ""
			if len(list) > maxListed {
				list, more = list[:maxListed], "…\n"
			}
			width, _ := sz.size() // read here, in the line editor's goroutine: not s.Cols
			if width <= 0 {
				width = 80
			}
			_, _ = w.Write([]byte(FormatCandidates(list, width) + more))
		}
		tabbed, lastTab = true, line
		return "", 0, false
	}
}

// completion is the Completion of the session's account now.
func (e *Env) completion(ctx context.Context, s *Session) Completion {
	var names []string
	for _, c := range e.Registry.All() {
		if ok, _ := Authorize(c, s.Roles); ok {
			names = append(names, c.Name)
		}
	}
	return Completion{
		Commands: names,
		Options: func(w string) ([]string, bool) {
			cmd, ok := e.Registry.Lookup(w)
			if !ok {
				return nil, false
			}
			if ok, _ := Authorize(cmd, s.Roles); !ok {
				return nil, false
			}
			opts := make([]string, 0, len(cmd.Options))
			for _, o := range cmd.Options {
				opts = append(opts, "--"+o.Name)
			}
			return opts, true
		},
		Values: func(w, opt string) ([]string, bool) {
			if w == "ssh" {
				return e.valuesOf(ctx, s, "host"), true
			}
			cmd, ok := e.Registry.Lookup(w)
			if !ok {
				return nil, false
			}
			if ok, _ := Authorize(cmd, s.Roles); !ok {
				return nil, false
			}
			for _, o := range cmd.Options {
				if o.Name != opt {
					continue
				}
				if o.Kind == Flag {
					return nil, false
				}
				if len(o.Choices) > 0 {
					return o.Choices, true
				}
				return e.valuesOf(ctx, s, o.Name), true
			}
			return nil, false
		},
	}
}

// valuesOf reads the names an option takes: accounts for --account, groups for --group, and
// for --host the servers of the account's own accesses (personal, and its groups' as member or
// guest), never other people's.
func (e *Env) valuesOf(ctx context.Context, s *Session, opt string) []string {
	var out []string
	switch opt {
	case "account", "owner", "to-account":
		// The names only: not every account's grants and settings (10,000 accounts, issue 14).
		list, err := e.Store.AccountStates(ctx)
		if err != nil {
			return nil
		}
		for _, a := range list {
			out = append(out, a.Name)
		}
	case "group":
		names, err := e.Store.GroupNames(ctx)
		if err != nil {
			return nil
		}
		out = append(out, names...)
	case "host":
		in, err := accessdb.Load(ctx, e.Store, s.Account)
		if err != nil {
			return nil
		}
		for _, en := range in.Personal {
			out = append(out, en.Host)
		}
		for _, g := range in.Groups {
			member := false
			for _, m := range g.Members {
				member = member || m == s.Account.Name
			}
			if member {
				for _, en := range g.Servers {
					out = append(out, en.Host)
				}
			}
			for _, en := range g.Guests[s.Account.Name] {
				out = append(out, en.Host)
			}
		}
	}
	return out
}

// Remember decides, pure, whether a line entered at the interactive prompt goes into the
// account's persistent history: a known command, a connection, mfa/nomfa. Anything else is
// kept for the session only, never written: a line that is no command may be a secret typed
// at the wrong prompt (a password after the prompt timed out). Answers to password and code
// prompts never reach the history at all (the line editor reads them without echo and does not
// record them).
func Remember(line string, maxLen int, lookup func(string) (string, bool)) bool {
	a := ParseInteractiveLine(line, maxLen, lookup)
	switch a.Kind {
	case ActCommand:
		_, known := lookup(a.Command)
		return known
	case ActConnect, ActMFA, ActNoMFA:
		return true
	}
	return false
}
