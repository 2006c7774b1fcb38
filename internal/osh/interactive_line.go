package osh

import (
	"fmt"
	"strings"
)

// ActionKind is what one line of the interactive mode asks for.
type ActionKind int

const (
	ActNothing ActionKind = iota // an empty line
	ActError                     // the line cannot be understood: print Message, nothing runs
	ActExit                      // exit, quit, logout
	ActMFA                       // mfa, enable: ask the proactive second factor
	ActNoMFA                     // nomfa, end: forget it
	ActCommand                   // run Command with Args (an unknown name is refused by Run)
	ActConnect                   // connect to Request's target
)

var actionNames = [...]string{"nothing", "error", "exit", "mfa", "nomfa", "command", "connect"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is the decision for one interactive line.
type Action struct {
	Kind    ActionKind
	Command string   // ActCommand: the command's registered name, or the word typed when unknown
	Args    []string // ActCommand: its options
	Request Request  // ActConnect: the target
	Message string   // ActError: what to tell the user
}

// ParseInteractiveLine decides what one line typed at the interactive prompt asks for. It is
// pure: lookup says whether a word names a command (and its registered name, following
// aliases), nothing else is consulted. Every line, however malformed, gives an Action; none
// panics (FuzzParseInteractiveLine).
func ParseInteractiveLine(line string, maxLen int, lookup func(string) (string, bool)) Action {
	line = strings.TrimSpace(line)
	if len(line) > maxLen {
		return Action{Kind: ActError, Message: fmt.Sprintf("The line is too long (%d bytes, at most %d).", len(line), maxLen)}
	}
	words, err := Split(line)
	if err != nil {
		return Action{Kind: ActError, Message: err.Error()}
	}
	if len(words) == 0 {
		return Action{Kind: ActNothing}
	}
	switch words[0] {
	case "exit", "quit", "logout":
		return Action{Kind: ActExit}
	case "mfa", "enable":
		return Action{Kind: ActMFA}
	case "nomfa", "end":
		return Action{Kind: ActNoMFA}
	case "ssh":
		// `ssh …` always means a server, never a command: `ssh info` is a host named info.
		if len(words) == 1 {
			return Action{Kind: ActError, Message: "Usage: ssh [user@]host [-p port] [-u user] [command …]"}
		}
		return connectAction(line, words[1:])
	}
	if lookup != nil {
		if name, ok := lookup(words[0]); ok {
			return Action{Kind: ActCommand, Command: name, Args: rest(words)}
		}
	}
	if !looksLikeHost(words[0]) {
		return Action{Kind: ActCommand, Command: words[0], Args: rest(words)}
	}
	return connectAction(line, words)
}

func connectAction(line string, words []string) Action {
	req, err := ParseWords(words)
	if err != nil || !req.HasTarget() || req.Osh != "" || req.Interactive {
		return Action{Kind: ActError, Message: fmt.Sprintf("Cannot understand %q: type help for the commands.", line)}
	}
	return Action{Kind: ActConnect, Request: req}
}

// rest is the words after the first, nil when there are none.
func rest(words []string) []string {
	if len(words) < 2 {
		return nil
	}
	return words[1:]
}
