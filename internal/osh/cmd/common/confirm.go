package common

import (
	"context"
	"errors"
	"io"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// Confirmation is what a destructive command asks a person to type before it acts, as The
// Bastion's plugin asks it: scripts pipe these exact sentences in, so they are a contract.
type Confirmation struct {
	Prompt []string // the lines shown before reading
	Want   string   // the line to type, exactly
	Hidden bool     // not echoed where a line editor reads it
}

// ConfirmationFor returns the confirmation cmd asks before destroying name: accountDelete (and
// realmDelete) want "Yes, do as I say and delete NAME, kthxbye"; groupDelete and groupDestroy
// want the group's name. ok is false for a command that asks nothing.
func ConfirmationFor(cmd, name string) (Confirmation, bool) {
	warning := "!!!! WARNING !!!! WARNING !!!! WARNING !!!! WARNING !!!! WARNING !!!!"
	switch cmd {
	case "accountDelete", "realmDelete":
		what := map[string]string{"accountDelete": "account", "realmDelete": "realm"}[cmd]
		return Confirmation{
			Prompt: []string{warning, warning, warning, " ",
				"You are about to DELETE a bastion " + what + ", to be sure you're not drunk, type the following sentence:", " ",
				`  "Yes, do as I say and delete <insert_here_the_` + what + `_name>, kthxbye"  `, " "},
			Want: "Yes, do as I say and delete " + name + ", kthxbye",
		}, true
	case "groupDelete", "groupDestroy":
		return Confirmation{
			Prompt: []string{warning, warning, warning, "",
				"You are about to DELETE a bastion group, to be sure you're not drunk,",
				"please type the name of the group you want to delete (won't be echoed):", ""},
			Want: name, Hidden: true,
		}, true
	}
	return Confirmation{}, false
}

// Confirmed reports whether the typed line is the wanted one: exactly, once its line end is
// removed (as Perl's chomp does; a terminal's Enter may send \r). Nothing is trimmed besides,
// so a sentence about another account or group never matches.
func Confirmed(want, typed string) bool {
	for len(typed) > 0 && (typed[len(typed)-1] == '\n' || typed[len(typed)-1] == '\r') {
		typed = typed[:len(typed)-1]
	}
	return want != "" && typed == want
}

// maxConfirmLine bounds the line read for a confirmation.
const maxConfirmLine = 1024

// readLine reads one line from in, a byte at a time so that nothing after it is consumed (a
// script may pipe more after the sentence), up to maxConfirmLine bytes.
func readLine(in io.Reader) string {
	if in == nil {
		return ""
	}
	var line []byte
	b := make([]byte, 1)
	for len(line) < maxConfirmLine {
		n, err := in.Read(b)
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				break
			}
			line = append(line, b[0])
		}
		if err != nil {
			break
		}
	}
	return string(line)
}

// Confirm asks the confirmation of cmd for name unless --no-confirm was given, and returns the
// refusal The Bastion gives a wrong answer: ERR_OPERATOR_IS_DRUNK, "aborted", nothing changed.
func Confirm(c *osh.Call, cmd, name string) *osh.Result {
	if c.Args.Has("no-confirm") {
		return nil
	}
	conf, ok := ConfirmationFor(cmd, name)
	if !ok {
		return nil
	}
	if c.Sess.InBatch {
		// A batch's standard input is its command lines: a confirmation read from it would
		// depend on how much the batch had buffered. Scripts say --no-confirm instead.
		r := osh.Fail("", "ERR_OPERATOR_IS_DRUNK", "You're drunk, apparently, aborted. (No confirmation can be typed inside a batch: add --no-confirm to the line.)")
		return &r
	}
	for _, l := range conf.Prompt {
		c.P.Line("%s", l)
	}
	var typed string
	if ed := c.Sess.Editor; ed != nil {
		// The interactive mode's line editor: the sentence is seen and edited as typed; a
		// group's name is not echoed, as The Bastion's prompt says.
		if conf.Hidden {
			typed, _ = ed.ReadPassword("")
		} else {
			typed, _ = ed.ReadLine()
		}
	} else {
		typed = readLine(c.Sess.In)
	}
	if !Confirmed(conf.Want, typed) {
		r := osh.Fail("", "ERR_OPERATOR_IS_DRUNK", "You're drunk, apparently, aborted.")
		return &r
	}
	c.P.Line("OK, proceeding...")
	return nil
}

// DeleteGroup deletes group g after the confirmation cmd asks (groupDestroy for its owners,
// groupDelete for the accounts granted it): with its servers, guest accesses and egress keys.
func DeleteGroup(ctx context.Context, c *osh.Call, g store.Group) osh.Result {
	if r := Confirm(c, c.Cmd.Name, g.Name); r != nil {
		return *r
	}
	err := c.Env.Store.DeleteGroup(ctx, g.Name)
	if errors.Is(err, store.ErrNotFound) {
		return osh.Fail("", "KO_GROUP_NOT_FOUND", "Group %s doesn't exist (any more)", g.Name)
	}
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot delete group %s: %v", g.Name, err)
	}
	c.P.Line("Group %s deleted.", g.Name)
	return osh.OK("", map[string]any{"group": g.Name})
}
