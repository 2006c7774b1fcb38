package common

import (
	"context"
	"fmt"
	"strconv"

	"gatehouse/internal/audit"
	"gatehouse/internal/egresspw"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// The egress password commands (selfGeneratePassword, accountGeneratePassword,
// groupGeneratePassword and their List counterparts) share these: each command checks who may
// act on which owner, then calls them.

// PasswordSizeOptions are the options of the Generate commands, The Bastion's.
func PasswordSizeOptions(extra ...osh.Option) []osh.Option {
	return append(extra,
		osh.Option{Name: "size", Kind: osh.Int, Help: "the number of characters of the password to generate (8 to 128, default 16)"},
		osh.Option{Name: "do-it", Kind: osh.Flag, Help: "required for the password to actually be generated: it is used at once"})
}

// beware is The Bastion's note of its Generate commands.
var beware = []string{
	"NOTE: this is only needed for devices that don't support key-based SSH,",
	"in most cases you should ignore this command completely.",
	"BEWARE: once a new password is generated this way, it'll be set as the new",
	"egress password to use right away, for any access that requires it.",
	"The previous ones are kept as fallbacks, tried in turn if this one doesn't work.",
}

// hashOrder is the order The Bastion prints the hashes in.
var hashOrder = []string{"md5crypt", "sha256crypt", "sha512crypt"}

// GeneratePassword makes a new egress password for kind/owner ("account" or "group"), after the
// caller's checks. label names the owner in the lines ("your account, alice", "group web").
func GeneratePassword(ctx context.Context, c *osh.Call, kind, owner, label string) osh.Result {
	size := egresspw.DefaultSize
	if c.Args.Has("size") {
		size = c.Args.Int("size")
	}
	policyMin := c.Cfg().Plugin[c.Cmd.Name].MinPasswordSize
	if err := egresspw.CheckSize(size, policyMin); err != nil {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "%v", err)
	}
	if !c.Args.Has("do-it") {
		for _, l := range beware {
			c.P.Line("%s", l)
		}
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Missing mandatory parameter: please read the BEWARE note above.")
	}
	_, hashes, err := egresspw.New(ctx, c.Env.Store, c.Env.Sealer, kind, owner, c.Caller().Name, size, c.Now())
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot generate the password: %v", err)
	}
	// After the fact (the password is stored): the log counts and alerts a failure.
	_ = c.Env.AuditEvent(ctx, audit.Event{Type: "egress_password.generate", Fields: audit.Fields{
		Extra: map[string]string{"owner_kind": kind, "owner": owner, "by": c.Caller().Name, "size": strconv.Itoa(size)}}})
	c.P.Line("Generated a new password of length %d for %s, hashes follow:", size, label)
	c.P.Line("")
	for _, h := range hashOrder {
		c.P.Line("%11s: %s", h, hashes[h])
	}
	c.P.Line("")
	c.P.Line("This new password will now be used by default.")
	v := map[string]any{"context": kind, "account": nil, "group": nil, "hashes": hashes}
	v[kind] = owner
	return osh.OK("", v)
}

// ListPasswords lists the hashes of kind/owner's passwords, never the passwords.
func ListPasswords(ctx context.Context, c *osh.Call, kind, owner, none string) osh.Result {
	list, err := egresspw.List(ctx, c.Env.Store, c.Env.Sealer, kind, owner)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot list the passwords: %v", err)
	}
	for _, l := range list {
		c.P.Line("%s", l.Description)
		for _, h := range hashOrder {
			c.P.Line("... %11s: %s", h, l.Hashes[h])
		}
		c.P.Line("")
	}
	if len(list) == 0 {
		c.P.Line("%s", none)
	}
	return osh.OK("", list)
}

// IsGroupMember says whether name is a member of g (groupListPasswords' condition, with the
// super-owner override).
func IsGroupMember(g store.Group, name string) bool {
	return g.Has(store.RoleMember, name)
}

// PasswordLabel is how the Generate commands name an account.
func PasswordLabel(self bool, account string) string {
	if self {
		return fmt.Sprintf("your account, %s", account)
	}
	return fmt.Sprintf("account %s", account)
}
