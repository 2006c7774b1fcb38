package app

import (
	"testing"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// persona is one kind of caller of the role table.
type persona struct {
	name  string
	roles osh.Roles
}

func personas(cmd string) []persona {
	acct := func(grants ...string) osh.Roles { return osh.RolesOf(store.Account{Grants: grants}) }
	return []persona{
		{"admin", acct(osh.GrantAdmin)},
		{"superowner", acct(osh.GrantSuperOwner)},
		{"auditor", acct(osh.GrantAuditor)},
		{"granted", acct(cmd)},
		{"plain", acct()},
		{"group-owner", func() osh.Roles { r := acct(); r.OwnerOfAny = true; return r }()},
	}
}

// allowedBy is the permission model written out: category → which personas may run it.
var allowedBy = map[osh.Category]map[string]bool{
	osh.Open:            {"admin": true, "superowner": true, "auditor": true, "granted": true, "plain": true, "group-owner": true},
	osh.Restricted:      {"admin": true, "granted": true},
	osh.GroupOwner:      {"admin": true, "superowner": true, "group-owner": true},
	osh.GroupGatekeeper: {"admin": true, "superowner": true},
	osh.GroupAclkeeper:  {"admin": true, "superowner": true},
	osh.Admin:           {"admin": true},
}

// categoryOf pins each command to its folder, so moving one by mistake fails here.
var categoryOf = map[string]osh.Category{
	"adminMaintenance": osh.Admin,
	"selfListSessions": osh.Open, "selfPlaySession": osh.Open, "lock": osh.Open, "unlock": osh.Open, "webLogin": osh.Open,
	"accountListSessions": osh.Restricted, "accountPlaySession": osh.Restricted,
	"info": osh.Open, "help": osh.Open, "batch": osh.Open,
	"selfListIngressKeys": osh.Open, "selfAddIngressKey": osh.Open, "selfDelIngressKey": osh.Open,
	"selfListEgressKeys": osh.Open, "selfGenerateEgressKey": osh.Open,
	"selfSshConfig": osh.Open, "scp": osh.Open, "sftp": osh.Open, "rsync": osh.Open,
	"accountCreate": osh.Restricted, "accountDelete": osh.Restricted, "accountList": osh.Restricted,
	"accountInfo": osh.Restricted, "accountModify": osh.Restricted, "accountFreeze": osh.Restricted,
	"accountUnfreeze": osh.Restricted, "accountUnexpire": osh.Restricted, "accountGrantCommand": osh.Restricted, "accountRevokeCommand": osh.Restricted,
	"accountListIngressKeys": osh.Restricted, "accountListEgressKeys": osh.Restricted,
	// Groups and accesses.
	"groupList": osh.Open, "groupInfo": osh.Open, "groupListServers": osh.Open, "selfListAccesses": osh.Open,
	"selfForgetHostKey": osh.Open,
	"groupCreate":       osh.Restricted, "selfAddPersonalAccess": osh.Restricted, "selfDelPersonalAccess": osh.Restricted,
	"accountAddPersonalAccess": osh.Restricted, "accountDelPersonalAccess": osh.Restricted,
	"accountListAccesses": osh.Restricted, "whoHasAccessTo": osh.Restricted, "assetForgetHostKey": osh.Restricted,
	"groupAddOwner": osh.GroupOwner, "groupDelOwner": osh.GroupOwner, "groupAddGatekeeper": osh.GroupOwner,
	"groupDelGatekeeper": osh.GroupOwner, "groupAddAclkeeper": osh.GroupOwner, "groupDelAclkeeper": osh.GroupOwner,
	"groupTransmitOwnership": osh.GroupOwner, "groupGenerateEgressKey": osh.GroupOwner, "groupDelEgressKey": osh.GroupOwner,
	"groupModify": osh.GroupOwner, "groupDestroy": osh.GroupOwner, "groupDelete": osh.Restricted,
	"groupAddMember": osh.GroupGatekeeper, "groupDelMember": osh.GroupGatekeeper, "groupAddGuestAccess": osh.GroupGatekeeper,
	"groupDelGuestAccess": osh.GroupGatekeeper, "groupListGuestAccesses": osh.GroupGatekeeper,
	"groupAddServer": osh.GroupAclkeeper, "groupDelServer": osh.GroupAclkeeper, "groupSetServers": osh.GroupAclkeeper,
	"selfMFASetupPassword": osh.Open, "selfMFAResetPassword": osh.Open, "selfMFASetupTOTP": osh.Open, "selfMFAResetTOTP": osh.Open,
	"accountMFAResetPassword": osh.Restricted, "accountMFAResetTOTP": osh.Restricted, "accountUnlock": osh.Restricted,
	"accountMFAImportTOTP": osh.Restricted,
	"selfGeneratePassword": osh.Open, "selfListPasswords": osh.Open, "groupListPasswords": osh.Open,
	"accountGeneratePassword": osh.Restricted, "accountListPasswords": osh.Restricted, "groupGeneratePassword": osh.GroupOwner,
	// The Bastion's network plugins.
	"ping": osh.Open, "nc": osh.Open, "alive": osh.Open, "mtr": osh.Open,
}

// auditorMay are the read-only restricted commands auditors hold without a grant.
var auditorMay = map[string]bool{"accountListSessions": true, "accountPlaySession": true}

func TestRoleTable(t *testing.T) {
	reg := NewRegistry()
	seen := 0
	for _, cmd := range reg.All() {
		want, pinned := categoryOf[cmd.Name]
		if !pinned {
			t.Errorf("command %s is not in the role table: add it to categoryOf", cmd.Name)
			continue
		}
		seen++
		if cmd.Category != want {
			t.Errorf("%s is in %s, want %s", cmd.Name, cmd.Category, want)
		}
		for _, p := range personas(cmd.Name) {
			ok, refusal := osh.Authorize(cmd, p.roles)
			wantOK := allowedBy[want][p.name] || (auditorMay[cmd.Name] && p.name == "auditor")
			if ok != wantOK {
				t.Errorf("%s as %s: allowed=%v, want %v", cmd.Name, p.name, ok, wantOK)
			}
			if !ok && (refusal.Code != "KO_RESTRICTED_COMMAND" || refusal.Command != "" || refusal.ExitCode() != 106) {
				t.Errorf("%s as %s: refusal %+v, want KO_RESTRICTED_COMMAND, command null, exit 106", cmd.Name, p.name, refusal)
			}
		}
	}
	if seen != len(categoryOf) {
		t.Errorf("role table names %d commands, registry has %d of them", len(categoryOf), seen)
	}
}
