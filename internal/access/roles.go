package access

import (
	"fmt"
	"slices"
)

// Role is a group role that gates group commands.
type Role string

const (
	RoleOwner      Role = "owner"
	RoleGatekeeper Role = "gatekeeper"
	RoleAclkeeper  Role = "aclkeeper"
)

// Actor is who runs a command. SuperOwner must already combine The
// Bastion's two conditions (listed in superOwnerAccounts and granted), and
// Admin implies super-owner.
type Actor struct {
	Name       string
	SuperOwner bool
	Admin      bool
}

// CheckRole reports whether actor holds role on g. When the actor does not
// hold the role but is a super-owner (or admin), it is allowed with
// override=true: the caller must then log a "superowner-override" security
// event and may print "OVERRIDE", as The Bastion does.
//
// A refusal carries ERR_NOT_GROUP_OWNER / _GATEKEEPER / _ACLKEEPER and The
// Bastion's sentence; doing, when set, completes it ("add servers to it").
func CheckRole(actor Actor, g Group, role Role, doing string) (override bool, err error) {
	var holders []string
	var code, article string
	switch role {
	case RoleOwner:
		holders, code, article = g.Owners, "ERR_NOT_GROUP_OWNER", "an owner"
	case RoleGatekeeper:
		holders, code, article = g.Gatekeepers, "ERR_NOT_GROUP_GATEKEEPER", "a gatekeeper"
	case RoleAclkeeper:
		holders, code, article = g.Aclkeepers, "ERR_NOT_GROUP_ACLKEEPER", "an aclkeeper"
	default:
		return false, fmt.Errorf("unknown group role %q", role)
	}
	if actor.Name != "" && slices.Contains(holders, actor.Name) {
		return false, nil
	}
	if actor.Name != "" && (actor.SuperOwner || actor.Admin) {
		return true, nil
	}
	msg := fmt.Sprintf("Sorry, you must be %s of group %s", article, g.Name)
	if doing != "" {
		msg += " to be able to " + doing
	}
	return false, &Refusal{Code: code, Exit: ExitPluginError, Message: msg}
}

// IsOwner, IsGatekeeper and IsAclkeeper are CheckRole for one role.
func IsOwner(a Actor, g Group, doing string) (bool, error) { return CheckRole(a, g, RoleOwner, doing) }
func IsGatekeeper(a Actor, g Group, doing string) (bool, error) {
	return CheckRole(a, g, RoleGatekeeper, doing)
}
func IsAclkeeper(a Actor, g Group, doing string) (bool, error) {
	return CheckRole(a, g, RoleAclkeeper, doing)
}
