// Package names validates the names people type: accounts, groups and commands. The rules follow
// The Bastion's so that its accounts and scripts carry over, and they keep every name safe to use
// in a file name, a log line and an SQL parameter.
package names

import (
	"fmt"
	"regexp"
)

// MaxAccountLen is The Bastion's limit on account names (it also bounds file names we build).
const MaxAccountLen = 28

var accountRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// reserved names would collide with roles, system users or the command language.
var reserved = map[string]bool{
	"root": true, "admin-sudo": true, "allowkeeper": true, "keykeeper": true, "logkeeper": true,
	"proxyhttp": true, "healthcheck": true, "nobody": true, "daemon": true,
}

// Account checks an account name: 1 to 28 characters, letters, digits, dot, underscore and dash,
// not starting with a punctuation mark, and not a reserved system name.
func Account(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("account name is empty")
	case len(name) > MaxAccountLen:
		return fmt.Errorf("account name %.40q is too long (%d characters, at most %d)", name, len(name), MaxAccountLen)
	case !accountRe.MatchString(name):
		return fmt.Errorf("account name %.40q is invalid: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	case reserved[name]:
		return fmt.Errorf("account name %q is reserved", name)
	}
	return nil
}

var groupRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// MaxGroupLen bounds group names as The Bastion does (its key<group> Unix names).
const MaxGroupLen = 27

// Group checks a group name: lower-case letters, digits, '.', '_' and '-', 1 to 27 characters.
func Group(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("group name is empty")
	case len(name) > MaxGroupLen:
		return fmt.Errorf("group name %.40q is too long (%d characters, at most %d)", name, len(name), MaxGroupLen)
	case !groupRe.MatchString(name):
		return fmt.Errorf("group name %.40q is invalid: use lower-case letters, digits, '.', '_' and '-'", name)
	}
	return nil
}
