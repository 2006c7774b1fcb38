package osh

import (
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// Roles is what an account may do beyond open commands (internal/session holds the type).
type Roles = session.Roles

// Pseudo-commands that grant roles through accountGrantCommand.
const (
	GrantAdmin      = session.GrantAdmin
	GrantSuperOwner = session.GrantSuperOwner
	GrantAuditor    = session.GrantAuditor
)

// RolesOf derives the roles an account's grants give it (session.RolesOf).
func RolesOf(a store.Account) Roles { return session.RolesOf(a) }

// RestrictedMessage is The Bastion's sentence for a command the account was not granted.
const RestrictedMessage = "Sorry, this command is restricted and requires you to be specifically granted"

// Authorize decides whether roles may run cmd. It fails closed: an unknown category is refused.
// Admins hold every restricted command (The Bastion's installer grants them all to the first
// admin; we make it a rule so an admin never locks themselves out).
func Authorize(cmd *Command, r Roles) (ok bool, refusal Result) {
	allowed := false
	switch cmd.Category {
	case Open:
		allowed = true
	case Restricted:
		allowed = r.Admin || r.Grants[cmd.Name] || (cmd.AuditorMay && r.Auditor)
	case GroupOwner:
		allowed = r.SuperOwner || r.OwnerOfAny
	case GroupGatekeeper:
		allowed = r.SuperOwner || r.GatekeeperOfAny
	case GroupAclkeeper:
		allowed = r.SuperOwner || r.AclkeeperOfAny
	case Admin:
		allowed = r.Admin
	}
	if allowed {
		return true, Result{}
	}
	switch cmd.Category {
	case GroupOwner, GroupGatekeeper, GroupAclkeeper:
		return false, Refuse("KO_RESTRICTED_COMMAND", "Sorry, this command requires you to be a %s of at least one group", roleWord(cmd.Category))
	case Admin:
		return false, Refuse("KO_RESTRICTED_COMMAND", "Sorry, this command is only available to bastion admins")
	}
	return false, Refuse("KO_RESTRICTED_COMMAND", RestrictedMessage)
}

func roleWord(c Category) string {
	switch c {
	case GroupOwner:
		return "owner"
	case GroupGatekeeper:
		return "gatekeeper"
	}
	return "aclkeeper"
}
