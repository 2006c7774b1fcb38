package osh

import (
	"fmt"
	"gatehouse/internal/session"
	"strconv"
	"strings"
)

// JSONMode and Request are the lifecycle's (internal/session): the line is parsed once, here,
// and every stage after reads the same value.
type (
	JSONMode = session.JSONMode
	Request  = session.Request
)

const (
	JSONNone      = session.JSONNone
	JSONCompact   = session.JSONCompact
	JSONPretty    = session.JSONPretty
	JSONGreppable = session.JSONGreppable
)

// GrammarError is a line that cannot be parsed; its message says what to fix.
type GrammarError struct{ Msg string }

func (e *GrammarError) Error() string { return e.Msg }

func gerr(format string, a ...any) error { return &GrammarError{Msg: fmt.Sprintf(format, a...)} }

// Split cuts a command line into words the way a POSIX shell would: blanks separate words, single
// quotes keep everything literally, double quotes keep blanks and honour \" \\ \$ \`, and a
// backslash outside quotes escapes the next character. OpenSSH sends the words after `--` joined
// by spaces, so quoting them once more on the client (`'"two words"'`) keeps them together.
func Split(line string) ([]string, error) {
	words, _, err := splitOffsets(line)
	return words, err
}

// splitOffsets is Split that also gives where each word starts in line.
func splitOffsets(line string) ([]string, []int, error) {
	var words []string
	var starts []int
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !inWord && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			starts = append(starts, i)
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, nil, gerr("unterminated single quote in the command line")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, nil, gerr("unterminated double quote in the command line")
			}
		case c == '\\':
			inWord = true
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, starts, nil
}

// ParseLine parses the whole line a user typed after `--`, in The Bastion's grammar (osh.pl):
// bastion options, then either `--osh COMMAND [options]`, or `[user@]host [-p port] [-u user]
// [remote command …]`, or nothing (the interactive mode). --json, --json-pretty and
// --json-greppable may appear anywhere, also among a command's options.
func ParseLine(line string) (Request, error) {
	words, starts, err := splitOffsets(line)
	if err != nil {
		return Request{}, err
	}
	r, err := ParseWords(words)
	if err == nil && len(r.RemoteCommand) > 0 {
		// The remote command goes to the target's shell as typed, quotes and all, as ssh
		// itself would send it: re-joining the words would lose the user's quoting.
		k := len(words) - len(r.RemoteCommand)
		r.RemoteCommandLine = strings.TrimRight(line[starts[k]:], " \t\r\n")
	}
	return r, err
}

// ParseWords is ParseLine over words already split.
func ParseWords(words []string) (Request, error) {
	var r Request
	seen := map[string]bool{}
	once := func(name string) error {
		if seen[name] {
			return gerr("option %s is given twice", name)
		}
		seen[name] = true
		return nil
	}
	setJSON := func(m JSONMode, name string) error {
		if r.JSON != JSONNone && r.JSON != m {
			return gerr("only one of --json, --json-pretty and --json-greppable may be given")
		}
		r.JSON = m
		return nil
	}
	jsonOpt := func(w string) (bool, error) {
		switch w {
		case "--json":
			return true, setJSON(JSONCompact, w)
		case "--json-pretty":
			return true, setJSON(JSONPretty, w)
		case "--json-greppable":
			return true, setJSON(JSONGreppable, w)
		}
		return false, nil
	}
	value := func(i *int, name string) (string, error) {
		w := words[*i]
		if k, v, ok := strings.Cut(w, "="); ok && strings.HasPrefix(k, "--") {
			return v, nil
		}
		if *i+1 >= len(words) {
			return "", gerr("option %s needs a value", name)
		}
		*i++
		return words[*i], nil
	}
	port := func(s string) (int, error) {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return 0, gerr("port %q is invalid: give a number from 1 to 65535", s)
		}
		return p, nil
	}
	// optTarget: -h, -u or -p was given; positionalHost: a [user@]host word was.
	optTarget, positionalHost := false, false
	for i := 0; i < len(words); i++ {
		w := words[i]
		if ok, err := jsonOpt(w); ok || err != nil {
			if err != nil {
				return r, err
			}
			continue
		}
		name, _, _ := strings.Cut(w, "=")
		switch name {
		case "--osh", "-osh":
			// The Bastion's getopt takes -osh as --osh, and a bare --osh (nothing after it, or
			// an option next) as help: its documentation and users write both.
			if err := once("--osh"); err != nil {
				return r, err
			}
			v := "help"
			if _, eq, ok := strings.Cut(w, "="); ok {
				if eq == "" {
					return r, gerr("--osh= needs a command name, e.g. --osh help")
				}
				v = eq
			} else if i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				i++
				v = words[i]
				if v == "" {
					return r, gerr("--osh needs a command name, e.g. --osh help")
				}
			}
			r.Osh = v
			// osh.pl takes -h, -u and -p anywhere and hands their values to the plugin: given
			// before --osh, they are the command's --host, --user and --port. The transfer
			// plugins are the exception: there they name the transfer's target (TransferPlugin).
			if optTarget && !positionalHost && !transferPlugins[v] {
				r.OshArgs = append(r.OshArgs, targetArgs(&r)...)
			}
			// Everything after the command is its own, except the global options that The
			// Bastion also takes there: the JSON framing, --proactive-mfa and --quiet.
			for _, a := range words[i+1:] {
				if ok, err := jsonOpt(a); ok || err != nil {
					if err != nil {
						return r, err
					}
					continue
				}
				switch a {
				case "--proactive-mfa":
					r.ProactiveMFA = true
					continue
				case "--quiet", "-q":
					r.Quiet = true
					continue
				}
				r.OshArgs = append(r.OshArgs, a)
			}
			return r, checkConflicts(&r)
		case "--quiet", "-q":
			r.Quiet = true
		case "-i", "--interactive":
			r.Interactive = true
		case "--proactive-mfa":
			r.ProactiveMFA = true
		case "-t", "--tty":
			r.ForceTTY = true
		case "-T", "--no-tty":
			r.NoTTY = true
		case "--help", "--long-help":
			r.Help = true
		case "-P", "--self-password":
			r.SelfPassword = true
		case "--password":
			if err := once("--password"); err != nil {
				return r, err
			}
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			r.PasswordGroup = v
		case "--wait":
			r.Wait = true
		case "--always-escape":
			r.AlwaysEscape = true
		case "--never-escape":
			r.NeverEscape = true
		case "--ssh-as":
			if err := once("--ssh-as"); err != nil {
				return r, err
			}
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			r.SSHAs = v
		case "--fallback-password-delay":
			if err := once("--fallback-password-delay"); err != nil {
				return r, err
			}
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 60 {
				return r, gerr("--fallback-password-delay takes a number of seconds from 0 to 60, got %q", v)
			}
			r.FallbackPasswordDelay = &n
		case "-p", "--port":
			if err := once("--port"); err != nil {
				return r, err
			}
			optTarget = true
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			if r.Port, err = port(v); err != nil {
				return r, err
			}
		case "-u", "-l", "--user":
			if err := once("--user"); err != nil {
				return r, err
			}
			optTarget = true
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			r.User = v
		case "-h", "--host":
			if err := once("--host"); err != nil {
				return r, err
			}
			optTarget = true
			v, err := value(&i, name)
			if err != nil {
				return r, err
			}
			r.Host = v
		case "--":
			if r.Host == "" {
				return r, gerr("'--' must follow a host: [user@]host [-p port] -- command")
			}
			r.RemoteCommand = append(r.RemoteCommand, words[i+1:]...)
			return r, checkConflicts(&r)
		default:
			if strings.HasPrefix(w, "-") {
				if r.Host != "" {
					// After the host, the first unknown word starts the remote command.
					r.RemoteCommand = append(r.RemoteCommand, words[i:]...)
					return r, checkConflicts(&r)
				}
				return r, gerr("unknown option %s: see --osh help, or `--long-help' for the options", w)
			}
			if r.Host != "" {
				r.RemoteCommand = append(r.RemoteCommand, words[i:]...)
				return r, checkConflicts(&r)
			}
			if err := once("--host"); err != nil {
				return r, err
			}
			positionalHost = true
			user, host := "", w
			if at := strings.LastIndexByte(w, '@'); at >= 0 {
				user, host = w[:at], w[at+1:]
				if user == "" || host == "" {
					return r, gerr("%q is not [user@]host", w)
				}
				if r.User != "" {
					return r, gerr("the remote user is given twice (%s and -u)", w)
				}
				r.User = user
			}
			// host:port is accepted too, but not for IPv6 literals without brackets.
			if h, p, ok := strings.Cut(host, ":"); ok && !strings.Contains(p, ":") {
				n, err := port(p)
				if err != nil {
					return r, err
				}
				if r.Port != 0 {
					return r, gerr("the port is given twice")
				}
				host, r.Port = h, n
			}
			r.Host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
	}
	return r, checkConflicts(&r)
}

// targetArgs moves the -h, -u and -p given before --osh into the command's options.
func targetArgs(r *Request) []string {
	var args []string
	if r.Host != "" {
		args = append(args, "--host", r.Host)
	}
	if r.User != "" {
		args = append(args, "--user", r.User)
	}
	if r.Port != 0 {
		args = append(args, "--port", strconv.Itoa(r.Port))
	}
	r.Host, r.User, r.Port = "", "", 0
	return args
}

func checkConflicts(r *Request) error {
	switch {
	case r.Osh != "" && r.Interactive, r.Osh != "" && r.Host != "" && !transferPlugins[r.Osh]:
		return gerr("--osh cannot be combined with a host or -i")
	case r.Interactive && r.Host != "":
		return gerr("-i cannot be combined with a host")
	case r.Host == "" && (r.Port != 0 || r.User != ""):
		return gerr("a port or user was given but no host: use [user@]host -p PORT")
	case r.ForceTTY && r.NoTTY:
		return gerr("-t and -T cannot be given together")
	}
	return nil
}

// SplitGlobalOptions takes out of a command's words the global options The Bastion also takes
// there (--json, --json-pretty, --json-greppable, --quiet/-q), for the lines of the interactive
// mode and of a batch, which run a command without going through ParseLine. The last JSON option
// given wins; the rest of the words, in order, are the command's.
func SplitGlobalOptions(words []string) (rest []string, mode JSONMode, quiet bool) {
	for _, w := range words {
		switch w {
		case "--json":
			mode = JSONCompact
		case "--json-pretty":
			mode = JSONPretty
		case "--json-greppable":
			mode = JSONGreppable
		case "--quiet", "-q":
			quiet = true
		default:
			rest = append(rest, w)
		}
	}
	return rest, mode, quiet
}
