package console

import "gatehouse/internal/osh"

// Viewer is the logged-in account as the console's decisions see it.
type Viewer struct {
	AccountID string
	Account   string
	Roles     osh.Roles
}

// SeesEveryone reports whether the viewer may list and replay every account's sessions, browse the
// audit log and the accounts, groups and servers: admins and auditors, as in the command language
// (the auditor role holds the read-only session commands).
func SeesEveryone(v Viewer) bool { return v.Roles.Admin || v.Roles.Auditor }

// CanViewSession decides whether the viewer may see a session (its row, replay and search) owned
// by ownerID. A session of unknown owner ("") is only for those who see everyone: an empty id
// never matches an account.
func CanViewSession(v Viewer, ownerID string) bool {
	if SeesEveryone(v) {
		return true
	}
	return v.AccountID != "" && ownerID != "" && ownerID == v.AccountID
}

// CanBrowseAudit decides the audit and directory pages.
func CanBrowseAudit(v Viewer) bool { return SeesEveryone(v) }
