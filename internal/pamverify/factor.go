package pamverify

import (
	"errors"
	"path"
	"strings"

	"gatehouse/internal/config"
)

// ErrCommandUnclear: the command sudo runs could not be read from its command line; a server
// with command rules refuses rather than guess (a guess could pick the weaker factor).
var ErrCommandUnclear = errors.New("the sudo command line could not be read")

// sudoOptsWithArg are sudo's short options that take an argument (sudo(8)).
const sudoOptsWithArg = "CDghprTtUu"

// sudoLongWithArg are sudo's long options that take an argument when not written --opt=value.
var sudoLongWithArg = map[string]bool{"--close-from": true, "--chdir": true, "--group": true, "--host": true,
	"--prompt": true, "--role": true, "--type": true, "--command-timeout": true, "--other-user": true, "--user": true, "--chroot": true}

// SudoCommand is the command a sudo command line runs, sudo's own options removed
// ("sudo -S -u root -- systemctl restart nginx" → "systemctl restart nginx"). ok is false when
// the line is not a sudo command line it can read (an option it does not know takes an argument
// or not, so the command could start anywhere); an empty command (sudo -v, -l, -s, -i) is "".
func SudoCommand(cmdline string) (string, bool) {
	f := strings.Fields(cmdline)
	if len(f) == 0 || path.Base(f[0]) != "sudo" {
		return "", false
	}
	i := 1
	for i < len(f) {
		a := f[i]
		switch {
		case a == "--":
			i++
			return strings.Join(f[i:], " "), true
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a, "=")
			if !hasValue && sudoLongWithArg[name] {
				i++
			}
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// A cluster of flags; the first that takes an argument ends it, the argument being
			// the rest of the word or the next one.
			next := false
			for j := 1; j < len(a); j++ {
				if strings.IndexByte(sudoOptsWithArg, a[j]) >= 0 {
					next = j == len(a)-1
					break
				}
			}
			if next {
				i++
			}
			i++
		default:
			// A VAR=value before the command is an environment assignment, not the command.
			if k, _, ok := strings.Cut(a, "="); ok && k != "" && !strings.ContainsAny(k, "/") {
				i++
				continue
			}
			return strings.Join(f[i:], " "), true
		}
	}
	if i > len(f) {
		return "", false // an option's argument is missing
	}
	return "", true
}

// PickFactor is the factor a server asks for one request: the first of its rules whose service
// and command match, else the server's factor ("totp" when unset). command is what the module
// sent (sudo's whole command line for sudo); for a rule with a command, it is reduced to the
// command sudo runs, and an unreadable sudo line refuses (ErrCommandUnclear) rather than fall
// through to a rule or a default that could be weaker.
func PickFactor(srv config.PAMServer, service, command string) (string, error) {
	run, readable := SudoCommand(command)
	if !readable {
		run = strings.Join(strings.Fields(command), " ")
	}
	for _, r := range srv.Rules {
		if r.Service != "" && r.Service != service {
			continue
		}
		if r.Command != "" {
			if command != "" && !readable && looksLikeSudo(command) {
				return "", ErrCommandUnclear
			}
			if !CommandMatches(r.Command, run) {
				continue
			}
		}
		return r.Factor, nil
	}
	if srv.Factor == "" {
		return "totp", nil
	}
	return srv.Factor, nil
}

func looksLikeSudo(cmdline string) bool {
	f := strings.Fields(cmdline)
	return len(f) > 0 && path.Base(f[0]) == "sudo"
}

// CommandMatches matches a rule's pattern, where "*" is any run of characters (spaces and
// slashes included), against a command. The program is compared as written and by its base
// name, so "systemctl *" matches "/usr/bin/systemctl restart x" too.
func CommandMatches(pattern, command string) bool {
	pattern = strings.Join(strings.Fields(pattern), " ")
	if glob(pattern, command) {
		return true
	}
	prog, rest, _ := strings.Cut(command, " ")
	if base := path.Base(prog); base != prog {
		if rest != "" {
			base += " " + rest
		}
		return glob(pattern, base)
	}
	return false
}

// glob: '*' matches any run of characters; everything else itself.
func glob(pattern, s string) bool {
	star, mark := -1, 0
	p, i := 0, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p, mark = star+1, mark+1
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
