package console

import (
	"testing"

	"gatehouse/internal/osh"
)

func TestCanViewSession(t *testing.T) {
	plain := Viewer{AccountID: "id-bob", Account: "bob"}
	auditor := Viewer{AccountID: "id-eve", Account: "eve", Roles: osh.Roles{Auditor: true}}
	admin := Viewer{AccountID: "id-adm", Account: "admin", Roles: osh.Roles{Admin: true, SuperOwner: true}}
	superowner := Viewer{AccountID: "id-so", Account: "so", Roles: osh.Roles{SuperOwner: true}}
	granted := Viewer{AccountID: "id-g", Account: "g", Roles: osh.Roles{Grants: map[string]bool{"accountList": true}}}
	noID := Viewer{Account: "ghost"}
	for _, c := range []struct {
		name  string
		v     Viewer
		owner string
		want  bool
	}{
		{"plain own", plain, "id-bob", true},
		{"plain other", plain, "id-alice", false},
		{"plain unknown owner", plain, "", false},
		{"plain same name other id", plain, "bob", false},
		{"auditor other", auditor, "id-alice", true},
		{"auditor unknown owner", auditor, "", true},
		{"admin other", admin, "id-alice", true},
		{"superowner is not an auditor", superowner, "id-alice", false},
		{"superowner own", superowner, "id-so", true},
		{"granted command is not a role", granted, "id-alice", false},
		{"empty viewer id never matches", noID, "", false},
	} {
		if got := CanViewSession(c.v, c.owner); got != c.want {
			t.Errorf("%s: CanViewSession = %v, want %v", c.name, got, c.want)
		}
		if got := CanBrowseAudit(c.v); got != (c.v.Roles.Admin || c.v.Roles.Auditor) {
			t.Errorf("%s: CanBrowseAudit = %v", c.name, got)
		}
	}
}
