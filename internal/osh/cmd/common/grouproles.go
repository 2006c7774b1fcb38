package common

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/osh"
	refusalpkg "gatehouse/internal/refusal"
	"gatehouse/internal/store"
)

// GuestRole is recorded in a group's roles while an account holds guest accesses in it. The Bastion
// puts guests in the group's system group too; here it makes store.GroupsOf, and so the access
// decision loaded by accessdb, see the groups where an account is only a guest. The guest entries
// themselves stay the ACL of kind store.ACLGuest.
const GuestRole = store.RoleGuest

// Failure returns a command failure as a pointer, for helpers that return "nil or a refusal".
func Failure(code, format string, a ...any) *osh.Result {
	r := osh.Fail("", code, format, a...)
	return &r
}

// LoadGroup loads the group named by --group, with The Bastion's codes: ERR_MISSING_PARAMETER,
// ERR_INVALID_GROUP for a name that could never exist, KO_GROUP_NOT_FOUND.
func LoadGroup(ctx context.Context, c *osh.Call) (store.Group, *osh.Result) {
	name := c.Args.String("group")
	if name == "" {
		return store.Group{}, Failure("ERR_MISSING_PARAMETER", "Missing mandatory parameter --group")
	}
	if err := access.ValidateGroupName(name); err != nil {
		return store.Group{}, Failure("ERR_INVALID_GROUP", "%v", err)
	}
	g, err := c.Env.Store.GetGroup(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return g, Failure("KO_GROUP_NOT_FOUND", "Group %s doesn't exist (see groupList --all)", name)
	}
	if err != nil {
		return g, Failure("ERR_INTERNAL", "cannot load group %s: %v", name, err)
	}
	return g, nil
}

// LoadAccount loads the account named by option opt ("account" for --account).
func LoadAccount(ctx context.Context, c *osh.Call, opt string) (store.Account, *osh.Result) {
	name := c.Args.String(opt)
	if name == "" {
		return store.Account{}, Failure("ERR_MISSING_PARAMETER", "Missing mandatory parameter --%s", opt)
	}
	if err := access.ValidateAccountName(name); err != nil {
		return store.Account{}, Failure("ERR_INVALID_ACCOUNT", "%v", err)
	}
	a, err := c.Env.Store.GetAccount(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return a, Failure("KO_NOT_FOUND", "Account '%s' doesn't exist", name)
	}
	if err != nil {
		return a, Failure("ERR_INTERNAL", "cannot load account %s: %v", name, err)
	}
	return a, nil
}

// Actor is the caller as the group role checks see it.
func Actor(c *osh.Call) access.Actor {
	return access.Actor{Name: c.Caller().Name, SuperOwner: c.Sess.Roles.SuperOwner, Admin: c.Sess.Roles.Admin}
}

// RoleGroup is the part of a stored group that role checks read.
func RoleGroup(g store.Group) access.Group {
	return access.Group{Name: g.Name, Owners: g.Roles[store.RoleOwner], Gatekeepers: g.Roles[store.RoleGatekeeper],
		Aclkeepers: g.Roles[store.RoleAclkeeper], Members: g.Roles[store.RoleMember]}
}

// RequireRole refuses unless the caller holds role on g (ERR_NOT_GROUP_OWNER, _GATEKEEPER,
// _ACLKEEPER). A super-owner who does not hold it passes: the override is printed and logged as a
// security event, as The Bastion does.
func RequireRole(c *osh.Call, g store.Group, role access.Role, doing string) *osh.Result {
	return requireRole(c, Actor(c), g, role, doing)
}

// RequireOwnRole is RequireRole without the super-owner override, for acts that only make sense
// for the holder of the role (groupTransmitOwnership gives away the caller's own ownership).
func RequireOwnRole(c *osh.Call, g store.Group, role access.Role, doing string) *osh.Result {
	return requireRole(c, access.Actor{Name: c.Caller().Name}, g, role, doing)
}

func requireRole(c *osh.Call, actor access.Actor, g store.Group, role access.Role, doing string) *osh.Result {
	override, err := access.CheckRole(actor, RoleGroup(g), role, doing)
	var refusal *access.Refusal
	switch {
	case errors.As(err, &refusal):
		return Failure(refusal.Code, "%s", refusal.Message)
	case err != nil:
		return Failure("ERR_INTERNAL", "cannot check your role on %s: %v", g.Name, err)
	case override:
		c.Env.Log.Warn("superowner-override", "type", "security", "account", c.Caller().Name,
			"command", c.Cmd.Name, "group", g.Name, "role", string(role))
		if err := c.Env.AuditEvent(context.Background(), audit.Event{Type: "security.superowner-override", Fields: audit.Fields{
			Account: c.Caller().Name, Plugin: c.Cmd.Name, UniqID: c.Sess.ID,
			Extra: map[string]string{"group": g.Name, "role": string(role)}}}); err != nil {
			// Fail closed: an override the audit log cannot record is not used.
			return Failure("KO_AUDIT_UNAVAILABLE", "%s", refusalpkg.AuditUnavailable().Message)
		}
		c.P.Line("SUPER OWNER OVERRIDE: you're not %s of group %s,", withArticle(string(role)), g.Name)
		c.P.Line("but allowing because you're a super-owner. This has been logged.")
	}
	return nil
}

// SetRole adds or removes one role of account in group and returns The Bastion's result: OK, or
// OK_NO_CHANGE when the account already had (or already lacked) it; the value is null.
func SetRole(ctx context.Context, c *osh.Call, g store.Group, role, account string, on bool) osh.Result {
	changed, err := c.Env.Store.SetRole(ctx, g.Name, role, account, on)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot change the %s list of %s: %v", role, g.Name, err)
	}
	if !changed {
		state := "already"
		if !on {
			state = "already not"
		}
		msg := fmt.Sprintf("Account %s is %s %s of %s, nothing to do", account, state, withArticle(role), g.Name)
		c.P.Line("%s", msg)
		return osh.Result{Code: "OK_NO_CHANGE", Message: msg}
	}
	if on {
		c.P.Line("Account %s is now %s of group %s.", account, withArticle(role), g.Name)
	} else {
		c.P.Line("Account %s is no longer %s of group %s.", account, withArticle(role), g.Name)
	}
	return osh.Result{Code: "OK", Message: "OK"}
}

// GroupKeyValue renders and prints a group's egress key as The Bastion does: the fields of
// EgressKeysValue plus family ("ED25519", "ECDSA", "RSA") and prefix (the from="…" option
// egressKeysFrom asks for, "" when it is empty).
func GroupKeyValue(p *osh.Printer, k store.EgressKey, from []string) map[string]any {
	v := EgressKeysValue(p, []store.EgressKey{k}, from)[0]
	v["family"] = KeyFamily(k.Type)
	v["prefix"] = ""
	if len(from) > 0 {
		v["prefix"] = `from="` + strings.Join(from, ",") + `"`
	}
	return v
}

// EgressKeysByFingerprint renders a list of egress keys as The Bastion's selfListEgressKeys and
// accountListEgressKeys answer them: an object keyed by fingerprint, each key shaped as
// GroupKeyValue ({} when there is none).
func EgressKeysByFingerprint(p *osh.Printer, keys []store.EgressKey, from []string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		out[k.Fingerprint] = GroupKeyValue(p, k, from)
	}
	return out
}

// KeyFamily is the key family The Bastion prints for an SSH key type (ssh-keygen -l's name).
func KeyFamily(typ string) string {
	switch {
	case typ == "ssh-ed25519":
		return "ED25519"
	case strings.HasPrefix(typ, "ecdsa-"):
		return "ECDSA"
	case typ == "ssh-rsa":
		return "RSA"
	case typ == "sk-ssh-ed25519@openssh.com":
		return "ED25519-SK"
	case strings.HasPrefix(typ, "sk-ecdsa-"):
		return "ECDSA-SK"
	case typ == "ssh-dss":
		return "DSA"
	}
	return strings.ToUpper(typ)
}

// CheckKeyAlgo validates --algo and --size before anything is created, so a bad size never leaves
// a group without its key. size 0 picks the algorithm's default (ecdsa 521, rsa 4096).
func CheckKeyAlgo(algo string, size int) *osh.Result {
	switch algo {
	case "":
		return Failure("ERR_MISSING_PARAMETER", "Missing --algo: give ed25519, ecdsa (--size 256, 384 or 521) or rsa (--size 2048 to 8192)")
	case "ed25519":
		if size != 0 && size != 256 {
			return Failure("ERR_INVALID_PARAMETER", "ed25519 keys have a fixed size of 256 bits, got --size %d", size)
		}
	case "ecdsa":
		if size != 0 && size != 256 && size != 384 && size != 521 {
			return Failure("ERR_INVALID_PARAMETER", "ecdsa keys are 256, 384 or 521 bits, got --size %d", size)
		}
	case "rsa":
		switch {
		case size == 0:
		case size < 2048:
			return Failure("KO_KEY_SIZE_TOO_SMALL", "rsa key size %d is below the minimum configured key size (2048)", size)
		case size > 8192 || size%8 != 0:
			return Failure("ERR_INVALID_PARAMETER", "rsa key size must be a multiple of 8 between 2048 and 8192, got %d", size)
		}
	default:
		return Failure("ERR_INVALID_PARAMETER", "unknown key algorithm %q: give ed25519, ecdsa or rsa", algo)
	}
	return nil
}

// withArticle is "an owner", "a member": role names as sentences need them.
func withArticle(role string) string {
	if role != "" && strings.IndexByte("aeiou", role[0]) >= 0 {
		return "an " + role
	}
	return "a " + role
}
